"""A real Celery worker process for tests, on the test database and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app
from tests.support.processes import process_stop


@dataclass
class Worker:
    queue: str
    process: subprocess.Popen[bytes]
    log: Path


def test_database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{quote(db['USER'])}{password}@{db['HOST'] or '127.0.0.1'}"
        f":{db['PORT'] or 5432}/{db['NAME']}"
    )


def start_worker(
    tmp_dir: Path,
    *,
    concurrency: int = 1,
    queues: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> Worker:
    """Start a worker on ``queues`` (default: a queue of its own).

    ``extra_env`` adds settings for the worker process, such as a short
    visibility timeout for tests that kill workers.
    """
    queue = ",".join(queues) or f"test-{uuid.uuid4().hex[:8]}"
    log = tmp_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "tests.support.celery_probe",
        "worker", "-Q", queue, "--concurrency", str(concurrency),
        "--pool", "prefork", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel", "INFO",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT,
            cwd=settings.BASE_DIR,
        )  # fmt: skip
    worker = Worker(queue=queue, process=process, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited early:\n{log.read_text()}")
        if b"ready." in log.read_bytes():
            return worker
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"worker did not start:\n{log.read_text()}")


def stop_worker(worker: Worker) -> None:
    process_stop(worker.process)


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup: None,
    django_db_blocker,
    tmp_path_factory,  # type: ignore[no-untyped-def]
) -> Iterator[Worker]:
    with django_db_blocker.unblock():
        worker = start_worker(tmp_path_factory.mktemp("celery"))
    app.control.purge()
    yield worker
    stop_worker(worker)
