"""SIGKILL a real worker mid-ingestion: the document still ends ready once.

Two ways a worker dies: the whole worker (its main process and pool child)
is killed and a new worker takes over, restoring the unacknowledged task
after the visibility timeout; or only the pool child is killed and the main
process requeues the task (``task_reject_on_worker_lost``). Either way the
document must end ready with exactly the chunks of an uninterrupted run.

The workers run with a 4-second visibility timeout and a 1-second restore
check (environment), so recovery takes seconds rather than the production
half hour. A third test covers the gap before a worker is involved: a
publish lost between commit and broker, recovered by the sweeper.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from config.celery import app
from knowledge import tasks
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy.context import as_workspace
from tests.knowledge.conftest import ingest, reload, upload
from tests.support.worker import Worker, start_worker, stop_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

VISIBILITY_TIMEOUT = 4
QUEUES = ("ingest", "embed")
# Long enough that embedding takes several seconds at batch size 2.
TEXT = "\n\n".join(
    f"# Chapter {n}\n\n"
    + " ".join(
        f"Chapter {n} fact {k} records a detail about topic {k * n}." for k in range(18)
    )
    for n in range(60)
).encode()


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found.append(child)
            found.extend(descendants(child))
    return found


def purge_queues(queues: tuple[str, ...] = QUEUES) -> None:
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for queue in queues:
            channel.queue_purge(queue)


def start(tmp_path: Path, media_root: Path) -> Worker:
    return start_worker(
        tmp_path,
        queues=QUEUES,
        extra_env={
            "ATRIUM_MEDIA_ROOT": str(media_root),
            "ATRIUM_EMBEDDING_BATCH_SIZE": "2",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "CELERY_UNACKED_RESTORE_INTERVAL": "1",
            "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        },
    )


def chunk_rows(document: Document) -> list[tuple[str, int, str, bool]]:
    with as_workspace(document.workspace_id):
        return [
            (str(c.pk), c.chunk_index, c.content, c.embedding is not None)
            for c in Chunk.objects.filter(document_id=document.pk).order_by(
                "chunk_index", "id"
            )
        ]


def wait_until(predicate, *, timeout: float, worker: Worker):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out; worker log:\n{worker.log.read_text()[-4000:]}")


def embedding_midway(document: Document, total: int):  # type: ignore[no-untyped-def]
    current = reload(document)
    embedded = (current.stages.get("embedding") or {}).get("embedded", 0)
    if current.status == DocumentStatus.EMBEDDING and 6 <= embedded <= total - 20:
        return current
    assert current.status not in (DocumentStatus.READY, DocumentStatus.FAILED)
    return None


@pytest.fixture
def clean_run(tenant_b, monkeypatch):  # type: ignore[no-untyped-def]
    """The same content ingested without interruption, in this process."""
    with monkeypatch.context() as patch:
        for task in (tasks.ingest_document, tasks.embed_document):
            patch.setattr(task, "delay", lambda *args: None)
        document = upload(tenant_b.workspace, "book.md", TEXT).document
        ingest(document)
    rows = chunk_rows(document)
    assert reload(document).status == DocumentStatus.READY
    return [(index, content) for _, index, content, _ in rows]


def assert_ingested_once(document: Document, clean: list[tuple[int, str]]) -> None:
    rows = chunk_rows(document)
    current = reload(document)
    assert current.status == DocumentStatus.READY
    assert current.chunk_count == len(clean)
    assert [(index, content) for _, index, content, _ in rows] == clean
    assert len({pk for pk, *_ in rows}) == len(rows)
    assert all(embedded for *_, embedded in rows)
    with as_workspace(document.workspace_id):
        assert Document.objects.filter(workspace_id=document.workspace_id).count() == 1


def test_killing_the_whole_worker_mid_ingestion(
    tenant_a, clean_run, tmp_path, media_root
):
    purge_queues()
    first = start(tmp_path, media_root)
    try:
        document = upload(tenant_a.workspace, "book.md", TEXT).document
        killed_at = wait_until(
            lambda: embedding_midway(document, len(clean_run)), timeout=60, worker=first
        )
        victims = [first.process.pid, *descendants(first.process.pid)]
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        first.process.wait(timeout=10)
    finally:
        if first.process.poll() is None:
            stop_worker(first)
    assert len(victims) >= 2  # the main process and its pool child
    stalled = reload(document)
    assert stalled.status == DocumentStatus.EMBEDDING

    second = start(tmp_path, media_root)
    try:
        wait_until(
            lambda: reload(document).status == DocumentStatus.READY,
            timeout=60,
            worker=second,
        )
        ready_rows = chunk_rows(document)
        # Past another visibility timeout: no late duplicate run changes it.
        time.sleep(VISIBILITY_TIMEOUT + 2)
    finally:
        stop_worker(second)

    assert_ingested_once(document, clean_run)
    assert chunk_rows(document) == ready_rows
    assert 0 < killed_at.stages["embedding"]["embedded"] < len(clean_run)
    assert reload(document).stages["embedding"]["embedded"] == len(clean_run)


def test_killing_the_pool_child_mid_ingestion(
    tenant_a, clean_run, tmp_path, media_root
):
    purge_queues()
    worker = start(tmp_path, media_root)
    try:
        document = upload(tenant_a.workspace, "book.md", TEXT).document
        wait_until(
            lambda: embedding_midway(document, len(clean_run)),
            timeout=60,
            worker=worker,
        )
        children = descendants(worker.process.pid)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: reload(document).status == DocumentStatus.READY,
            timeout=60,
            worker=worker,
        )
        ready_rows = chunk_rows(document)
        time.sleep(VISIBILITY_TIMEOUT + 2)
        log = worker.log.read_text()
    finally:
        stop_worker(worker)

    assert children
    assert "WorkerLostError" in log or "SIGKILL" in log
    assert_ingested_once(document, clean_run)
    assert chunk_rows(document) == ready_rows


def test_a_publish_lost_after_commit_is_recovered_by_the_sweeper(
    tenant_a, tmp_path, media_root, monkeypatch
):
    purge_queues()
    # The web process "dies" between commit and publish: nothing is queued.
    with monkeypatch.context() as patch:
        patch.setattr(tasks.ingest_document, "delay", lambda *args: None)
        document = upload(
            tenant_a.workspace, "lost.md", b"# Lost\n\nFound again."
        ).document
    with as_workspace(tenant_a.workspace.pk):
        Document.objects.filter(pk=document.pk).update(
            updated_at=timezone.now() - timedelta(hours=2)
        )
    worker = start(tmp_path, media_root)
    try:
        tasks.ingest_sweep_stuck.delay()
        wait_until(
            lambda: reload(document).status == DocumentStatus.READY,
            timeout=60,
            worker=worker,
        )
    finally:
        stop_worker(worker)

    assert [content for _, _, content, _ in chunk_rows(document)] == [
        "Lost\n\nFound again."
    ]
