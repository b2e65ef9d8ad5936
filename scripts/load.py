"""Load test: search and chat at rising concurrency against the real server.

    make load        (or: .venv/bin/python scripts/load.py [--seconds 8])

Prepares a load-test organization in the local database (enterprise plan, a
key whose own rate limit is out of the way, a few ingested documents, an
extractive agent), starts gunicorn with the production image's settings file
on a loopback port, then drives ``POST /search`` and ``POST /chat`` with 1,
2, 4, 8 and 16 concurrent clients for a bounded time each. Prints a table of
throughput and latency per step and writes it to var/bench/load.txt.
Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Vector and text search only, unless a graph server is running and asked for.
os.environ.setdefault("ATRIUM_GRAPH_BACKEND", "off")

QUESTIONS = [
    "How do I reset my password?",
    "When are invoices issued?",
    "Does the app work offline?",
    "How do I invite a teammate?",
]
DOCUMENTS = {
    "password.md": "# Password reset\n\nOpen Settings, choose Security and "
    "follow the emailed link to reset your password within one hour.",
    "billing.md": "# Invoices\n\nInvoices are issued on the first day of each "
    "month and charged to the card on file.",
    "offline.md": "# Offline use\n\nThe mobile app keeps notes offline and "
    "syncs them when the phone reconnects.",
    "team.md": "# Teammates\n\nAdmins invite teammates from the People page "
    "by email; the invitation link is valid for seven days.",
}


def prepare() -> tuple[str, str, str]:
    """The workspace id, agent id and raw API key of the load-test tenant."""
    import io

    import django

    django.setup()
    from accounts.models import User
    from agents.models import Agent
    from knowledge.ingestion import pipeline
    from knowledge.models import Document
    from knowledge.services import document_create
    from tenancy import services
    from tenancy.context import as_user, as_workspace
    from tenancy.models import Organization

    email = "load@atrium.local"
    user = User.objects.filter(email=email).first() or User.objects.create_user(
        email, None
    )
    with as_user(user.pk):
        organization = Organization.objects.filter(
            slug="load-test", deleted_at__isnull=True
        ).first() or services.organization_create(
            actor=user,
            name="Load test",
            slug="load-test",
            plan_tier="enterprise",
            max_workspaces=None,
            max_documents_per_workspace=None,
            max_monthly_requests=None,
            max_agents_per_workspace=None,
        )
        workspace = organization.workspaces.filter(
            slug="load", deleted_at__isnull=True
        ).first() or services.workspace_create(
            organization=organization, name="Load", slug="load"
        )
        key = services.api_key_create(
            workspace=workspace,
            name=f"load test {int(time.time())}",
            rate_limit_per_minute=1_000_000,
            created_by=user,
        )
    with as_workspace(workspace.pk):
        agent = Agent.objects.filter(workspace=workspace, slug="load").first()
        if agent is None:
            agent = Agent.objects.create(
                workspace=workspace,
                name="Load",
                slug="load",
                system_prompt="Answer from the documents.",
                model_provider="extractive",
                enabled_tools=["hybrid_search"],
            )
        for name, text in DOCUMENTS.items():
            document_create(
                workspace=workspace, file=io.BytesIO(text.encode()), filename=name
            )
        pending = list(
            Document.objects.filter(workspace=workspace)
            .exclude(status="ready")
            .values_list("pk", flat=True)
        )
    # Ingest in this process: the load test needs no worker running.
    for document_id in pending:
        pipeline.document_ingest_run(workspace_id=workspace.pk, document_id=document_id)
        pipeline.document_embed_run(workspace_id=workspace.pk, document_id=document_id)
    return str(workspace.pk), str(agent.pk), key.raw_key


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ATRIUM_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
        # The tenant's own limits are unlimited; lift the per-minute ones too.
        "ATRIUM_RATE_LIMIT_ENTERPRISE": "10000000",
        "DJANGO_DEBUG": "False",
    }
    log = open(ROOT / "var" / "log" / "load-web.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "config.wsgi:application",
            "--config",
            "config/gunicorn.py",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("load: the web server did not start (var/log/load-web.log)")


def drive(
    url: str, key: str, body_for: object, clients: int, seconds: float
) -> tuple[list[float], int]:
    """``clients`` threads POST for ``seconds``; latencies (ms) and errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(number: int) -> None:
        nonlocal errors
        turn = number
        while time.monotonic() < stop:
            payload = json.dumps(body_for(turn)).encode()  # type: ignore[operator]
            request = urllib.request.Request(  # noqa: S310
                url,
                data=payload,
                headers={
                    "Authorization": f"Bearer {key}",
                    "Content-Type": "application/json",
                },
            )
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    response.read()
                    ok = response.status == 200
            except (urllib.error.URLError, OSError):
                ok = False
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors += 1
            turn += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per step")
    parser.add_argument("--steps", default="1,2,4,8,16")
    arguments = parser.parse_args()
    (ROOT / "var" / "log").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)

    workspace_id, agent_id, key = prepare()
    port = _free_port()
    server = start_server(port)
    base = f"http://127.0.0.1:{port}/v1/workspaces/{workspace_id}"
    kinds = {
        "search": (
            f"{base}/search",
            lambda turn: {"query": QUESTIONS[turn % len(QUESTIONS)], "limit": 5},
        ),
        "chat": (
            f"{base}/chat",
            lambda turn: {
                "agent_id": agent_id,
                "query": QUESTIONS[turn % len(QUESTIONS)],
            },
        ),
    }
    lines = [
        f"load test: {os.cpu_count()} cores, gunicorn "
        f"{os.environ.get('WEB_CONCURRENCY', '2')} processes x "
        f"{os.environ.get('ATRIUM_WEB_THREADS', '8')} threads, "
        f"{arguments.seconds:g} s per step, loopback",
        f"{'request':<8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}"
        f" {'errors':>6}",
    ]
    print(lines[0], flush=True)
    print(lines[1], flush=True)
    seconds = arguments.seconds
    try:
        # Warm up every gunicorn worker (model load, connections) unmeasured.
        for url, body_for in kinds.values():
            drive(url, key, body_for, 4, 3.0)
        for kind, (url, body_for) in kinds.items():
            for clients in (int(step) for step in arguments.steps.split(",")):
                latencies, errors = drive(
                    url, key, body_for, clients, arguments.seconds
                )
                line = (
                    f"{kind:<8} {clients:>7} {len(latencies) / seconds:>8.1f}"
                    f" {statistics.median(latencies) if latencies else 0:>8.1f}"
                    f" {p95(latencies):>8.1f} {errors:>6}"
                )
                lines.append(line)
                print(line, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    (ROOT / "var" / "bench" / "load.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
