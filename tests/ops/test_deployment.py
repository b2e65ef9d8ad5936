"""The production entrypoint, the compose topology and the configuration reference.

No container engine runs on the machines that test Atrium, so the image is
checked two ways: its entrypoint and gunicorn settings really serve the app
(started here from the repository, with production settings), and the
Dockerfile and compose file are read for what production relies on.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from tests.support.processes import process_stop
from tests.support.worker import test_database_url as worker_database_url

ROOT = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def production_web(tmp_path: Path, django_db_setup: None) -> Iterator[str]:
    """``deploy/entrypoint.sh web`` with production settings, on a free port."""
    port = _free_port()
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "production-test-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        # The test talks plain HTTP on loopback; a proxy terminates TLS in
        # production, where this stays on.
        "DJANGO_SECURE_SSL_REDIRECT": "False",
        "ATRIUM_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        "ATRIUM_GRAPH_BACKEND": "off",
    }
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "deploy" / "entrypoint.sh"), "web"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{log.read_text()}")
            try:
                _get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
        yield base
    finally:
        process_stop(process, timeout=30)


@pytest.mark.django_db
def test_the_image_entrypoint_serves_with_production_settings(
    production_web: str,
) -> None:
    status, headers, body = _get(production_web + "/healthz")
    assert status == 200

    status, headers, _ = _get(production_web + "/accounts/login/")
    assert status == 200
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in headers["Content-Security-Policy"]

    status, _, body = _get(production_web + "/v1/organizations")
    assert status == 401
    assert b'"code"' in body


def _dockerfile_stages() -> list[list[str]]:
    stages: list[list[str]] = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_final_image_stage_is_small_and_unprivileged() -> None:
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    final = "\n".join(stages[-1])
    assert "apt-get install" not in final
    assert "gcc" not in final
    user = re.search(r"^USER (\S+)", final, re.MULTILINE)
    assert user is not None
    assert user.group(1) not in ("root", "0")
    assert "HEALTHCHECK" in final
    assert 'ENTRYPOINT ["/app/deploy/entrypoint.sh"]' in final
    assert os.access(ROOT / "deploy" / "entrypoint.sh", os.X_OK)


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_describes_the_production_topology() -> None:
    services = _compose()["services"]
    for name in ("postgres", "redis", "neo4j", "web", "beat", "migrate"):
        assert name in services
    workers = [name for name in services if name.startswith("worker-")]
    queues: set[str] = set()
    for name in workers:
        command = services[name]["command"]
        assert command[0] == "worker"
        queues.update(command[1].split(","))
    # Every queue Atrium routes tasks to has a worker.
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {"default"} <= queues

    for name, service in services.items():
        if name != "migrate":
            assert "healthcheck" in service, name
            assert service.get("restart") == "unless-stopped", name
    # Atrium's processes wait for migrations; data lives on named volumes.
    assert (
        services["web"]["depends_on"]["migrate"]["condition"]
        == "service_completed_successfully"
    )
    assert set(_compose()["volumes"]) >= {"pgdata", "redisdata", "neo4jdata", "media"}
    assert "max_parallel_maintenance_workers=0" in services["postgres"]["command"]


def _documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    names: set[str] = set()
    for row in re.findall(r"^\|([^|]+)\|", readme, re.MULTILINE):
        names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", row))
    return names


def _read_variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "config").rglob("*.py"):
        text = path.read_text()
        names.update(
            re.findall(
                r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""", text, re.DOTALL
            )
        )
        names.update(re.findall(r"""os\.environ\.get\(\s*["']([A-Z_]+)["']""", text))
    return names


def test_every_setting_read_from_the_environment_is_documented() -> None:
    missing = sorted(_read_variables() - _documented_variables())
    assert missing == [], f"add these to the README's configuration table: {missing}"


def test_the_example_environment_names_only_real_settings() -> None:
    example = (ROOT / "deploy" / "atrium.env.example").read_text()
    names = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    assert names
    assert names <= _documented_variables()
