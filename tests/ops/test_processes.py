"""Logs and metrics across real processes: gunicorn workers and Celery workers."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tenancy.observability.context import WorkRecord, recording
from tests.ops.test_metrics import value
from tests.support import tasks
from tests.support import worker as workers
from tests.support.graph import free_port
from tests.support.processes import process_stop

pytestmark = [pytest.mark.django_db, pytest.mark.worker]

TOKEN = "metrics-token-gunicorn-0a1b2c3d4e5f6a7b"
ROUTE = "v1/workspaces/<uuid:workspace_id>/documents"


def _get(port: int, path: str, **headers: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Connection": "close", **headers})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """Two gunicorn workers on the test database, sharing a metrics directory."""
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": workers.test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "ATRIUM_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "1",
        ],
        env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "gunicorn.log").read_text())
            time.sleep(0.2)
        yield port, metrics_dir
    finally:
        process_stop(process, timeout=30)
        log.close()


def test_every_scrape_counts_the_requests_of_every_gunicorn_worker(
    gunicorn: tuple[int, Path],
) -> None:
    port, metrics_dir = gunicorn
    path = f"/v1/workspaces/{uuid.uuid4()}/documents"

    def workers_seen() -> set[str]:
        files = metrics_dir.glob("counter_*.db")
        return {name.stem.rsplit("_", 1)[1] for name in files}

    # Send batches until both workers have answered some (the second may
    # still be booting when the first is ready), within a bound.
    statuses: list[int] = []
    deadline = time.monotonic() + 90
    with ThreadPoolExecutor(max_workers=6) as pool:
        while len(workers_seen()) < 2 or len(statuses) < 30:
            assert time.monotonic() < deadline, f"workers seen: {workers_seen()}"
            statuses += pool.map(lambda _: _get(port, path)[0], range(12))
    sent = len(statuses)
    scrapes = [
        _get(port, "/metrics", Authorization=f"Bearer {TOKEN}") for _ in range(6)
    ]

    assert set(statuses) == {401}
    # Both workers answered some of them and wrote their own files...
    assert len(workers_seen()) == 2
    # ...and whichever worker serves the scrape reports all of them.
    for status, body in scrapes:
        assert status == 200
        text = body.decode()
        total = value(text, "atrium_http_requests_total", route=ROUTE, status="401")
        assert total == sent
        assert (
            value(text, "atrium_http_request_duration_seconds_count", route=ROUTE)
            == sent
        )
    assert _get(port, "/metrics")[0] == 404


@pytest.fixture
def celery_worker_with_metrics(tmp_path: Path) -> Iterator[tuple[Any, int]]:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    port = free_port()
    worker = workers.start_worker(
        tmp_path,
        extra_env={
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "ATRIUM_WORKER_METRICS_ADDRESS": f"127.0.0.1:{port}",
            "ATRIUM_METRICS_TOKEN": TOKEN,
        },
    )
    try:
        yield worker, port
    finally:
        workers.stop_worker(worker)


def _task_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in log.read_text().splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line.get("event") == "celery_task":
                lines.append(line)
    return lines


def test_each_task_writes_one_line_and_counts_its_outcome(
    celery_worker_with_metrics: tuple[Any, int],
) -> None:
    worker, port = celery_worker_with_metrics
    workspace_id = str(uuid.uuid4())

    with recording(WorkRecord(request_id="req-ops-published-0001")):
        ok = tasks.probe_in_workspace.apply_async(
            args=[workspace_id], queue=worker.queue
        )
    failed = tasks.probe_fail.apply_async(args=[workspace_id], queue=worker.queue)
    retried = tasks.probe_retry_once.apply_async(
        args=[workspace_id], queue=worker.queue
    )
    ok.get(timeout=60)
    with pytest.raises(ValueError):
        failed.get(timeout=60)
    assert retried.get(timeout=60) == 1
    deadline = time.monotonic() + 20
    while len(_task_lines(worker.log)) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)

    lines = {(line["task"], line["outcome"]): line for line in _task_lines(worker.log)}
    assert len(_task_lines(worker.log)) == 4
    probe = lines[("tests.support.tasks.probe_in_workspace", "success")]
    assert probe["request_id"] == "req-ops-published-0001"
    assert probe["task_id"] == ok.id
    assert probe["workspace_id"] == workspace_id
    assert probe["level"] == "INFO"
    assert probe["success"] is True
    assert probe["latency_ms"] > 0
    assert {
        "timestamp",
        "organization_id",
        "agent_id",
        "tokens",
        "tools_called",
    } <= set(probe)
    failure = lines[("tests.support.tasks.probe_fail", "failure")]
    assert failure["level"] == "ERROR"
    assert failure["error"] == "ValueError"
    assert failure["request_id"] == failed.id  # published outside a request
    assert ("tests.support.tasks.probe_retry_once", "retry") in lines
    assert lines[("tests.support.tasks.probe_retry_once", "success")]["retries"] == 1

    # The worker's own endpoint merges what its pool processes counted.
    assert _get(port, "/metrics")[0] == 401
    status, body = _get(port, "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200
    text = body.decode()
    count = "atrium_celery_tasks_total"
    assert (
        value(
            text,
            count,
            task="tests.support.tasks.probe_in_workspace",
            outcome="success",
        )
        == 1
    )
    assert (
        value(text, count, task="tests.support.tasks.probe_fail", outcome="failure")
        == 1
    )
    assert (
        value(text, count, task="tests.support.tasks.probe_retry_once", outcome="retry")
        == 1
    )
    assert (
        value(
            text, count, task="tests.support.tasks.probe_retry_once", outcome="success"
        )
        == 1
    )
    assert (
        value(
            text,
            "atrium_celery_task_duration_seconds_count",
            task="tests.support.tasks.probe_fail",
        )
        == 1
    )
