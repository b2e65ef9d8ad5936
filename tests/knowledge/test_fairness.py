"""Bulk ingestion is fair between organizations (DESIGN.md §6).

One organization's large bulk job is admitted to the queues a few documents
at a time; another organization's single upload goes straight to the queue
and is ready long before the bulk job ends. Proven with a real worker, and
the admission rules (window, round-robin, release, the sweeper) directly.
"""

from __future__ import annotations

import io
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from knowledge.bulk import Upload, ingest_job_create
from knowledge.ingestion import fairness, maintenance
from knowledge.models import Document, DocumentStatus
from tenancy.context import as_user, as_workspace
from tenancy.ratelimit import client
from tests.knowledge.conftest import reload, upload
from tests.knowledge.test_crash import purge_queues
from tests.support.worker import Worker, start_worker, stop_worker

pytestmark = pytest.mark.django_db(transaction=True)

BULK_FILES = 30
WINDOW = 2


@pytest.fixture(autouse=True)
def fair_state(settings):  # type: ignore[no-untyped-def]
    """A small window, and no admission state left from another test."""
    settings.ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION = WINDOW

    def clear() -> None:
        keys = list(client().scan_iter(f"{fairness._prefix()}*"))
        if keys:
            client().delete(*keys)

    clear()
    yield
    clear()


def bulk_job(tenant, files: int, tag: str):  # type: ignore[no-untyped-def]
    uploads = [
        Upload(
            name=f"{tag}-{n}.md",
            file=io.BytesIO(f"# {tag} note {n}\n\nBody of note {n}.".encode()),
        )
        for n in range(files)
    ]
    with as_user(tenant.owner.pk):
        job = ingest_job_create(workspace=tenant.workspace, uploads=uploads)
    return [uuid.UUID(f["document_id"]) for f in job.files]


def statuses(tenant, ids: list[uuid.UUID]) -> list[str]:  # type: ignore[no-untyped-def]
    with as_workspace(tenant.workspace.pk):
        found = dict(Document.objects.filter(id__in=ids).values_list("id", "status"))
    return [found[i] for i in ids]


def wait_until(predicate, *, timeout: float, worker: Worker):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out; worker log:\n{worker.log.read_text()[-4000:]}")


@pytest.mark.worker
def test_a_bulk_job_does_not_starve_another_organizations_upload(
    tenant_a, tenant_b, tmp_path: Path, media_root: Path
):
    purge_queues()
    worker = start_worker(
        tmp_path,
        queues=("ingest", "embed"),
        extra_env={
            "ATRIUM_MEDIA_ROOT": str(media_root),
            "ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION": str(WINDOW),
        },
    )
    try:
        bulk = bulk_job(tenant_a, BULK_FILES, "a")
        single = upload(tenant_b.workspace, "b.md", b"# B\n\nOne upload.").document

        wait_until(
            lambda: reload(single).status == DocumentStatus.READY,
            timeout=120,
            worker=worker,
        )
        bulk_then = statuses(tenant_a, bulk)
        wait_until(
            lambda: set(statuses(tenant_a, bulk)) == {DocumentStatus.READY},
            timeout=300,
            worker=worker,
        )
    finally:
        stop_worker(worker)

    # B waited for at most A's window (and whatever was running), not for
    # A's 30 files queued before it.
    assert bulk_then.count(DocumentStatus.READY) <= 3 * WINDOW
    assert bulk_then.count(DocumentStatus.QUEUED) >= BULK_FILES - 4 * WINDOW
    # Nothing of the bulk job was lost or left behind, and no slot leaks.
    assert len(bulk) == BULK_FILES
    prefix = fairness._prefix()
    assert client().zcard(f"{prefix}inflight:{tenant_a.organization.pk}") == 0
    assert client().llen(f"{prefix}waiting:{tenant_a.organization.pk}") == 0


def test_admission_keeps_a_window_per_organization_and_serves_in_turn(
    tenant_a, tenant_b, published, media_root
):
    a = bulk_job(tenant_a, 5, "a")
    b = bulk_job(tenant_b, 3, "b")
    admitted = [uuid.UUID(args[1]) for _name, args in published]

    # Each organization got its window at once; the rest waits.
    assert admitted == a[:WINDOW] + b[:WINDOW]
    assert fairness.bulk_waiting([*a, *b]) == {*a[WINDOW:], *b[WINDOW:]}

    # A finished document frees one slot, for its own organization's next.
    published.clear()
    assert fairness.bulk_release(document_id=a[0]) is True
    assert fairness.bulk_release(document_id=a[0]) is False  # once only
    assert [uuid.UUID(args[1]) for _n, args in published] == [a[WINDOW]]

    # A document that never came through a bulk job holds no slot.
    single = upload(tenant_b.workspace, "s.md", b"# S\n\nSingle.").document
    published.clear()
    assert fairness.bulk_release(document_id=single.pk) is False
    assert published == []


def test_the_sweeper_leaves_waiting_bulk_documents_alone(
    tenant_a, published, media_root, settings
):
    a = bulk_job(tenant_a, 4, "a")
    with as_workspace(tenant_a.workspace.pk):
        Document.objects.filter(id__in=a).update(
            updated_at=Document.objects.first().updated_at - timedelta(days=1)
        )
    published.clear()

    requeued = maintenance.document_sweep_stuck(
        workspace_id=tenant_a.workspace.pk, older_than=timedelta(seconds=1)
    )

    # The admitted ones looked stuck and were re-queued; the waiting ones
    # keep their place in line.
    assert set(requeued) == set(a[:WINDOW])
    assert fairness.bulk_waiting(a) == set(a[WINDOW:])
