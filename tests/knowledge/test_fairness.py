"""Bulk ingestion is fair between organizations (DESIGN.md §6).

One organization's large bulk job is admitted to the queues a few documents
at a time, first to the ingest queue, then, once embedded, to the graph
queue; another organization's single upload goes straight to each queue and
is ready long before the bulk job ends. Proven with real workers (and a
real graph server, with a slow model behind extraction), and the admission
rules of both lanes (window, round-robin, release, the sweeper) directly.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.celery import app
from knowledge import services, tasks
from knowledge.bulk import Upload, ingest_job_create
from knowledge.ingestion import fairness, maintenance
from knowledge.models import Document, DocumentStatus
from tenancy.context import as_user, as_workspace
from tenancy.ratelimit import client
from tests.knowledge.conftest import acting_in, reload, upload
from tests.knowledge.graph.conftest import episodes_of
from tests.knowledge.test_crash import purge_queues
from tests.support.graph import (
    GraphServer,
    SchemaServer,
    falkordb_server,
    free_port,
    graph_on,
)
from tests.support.worker import Worker, start_worker, stop_worker

__all__ = ["falkordb_server", "graph_on"]

pytestmark = pytest.mark.django_db(transaction=True)

BULK_FILES = 30
WINDOW = 2
MODEL_KEY = "sk-test-graph-0123456789abcdef"
# A model that finds nothing, slowly: two prompts per chunk, each answered
# after MODEL_DELAY seconds, so extraction is far slower than embedding.
NOTHING_FOUND = {
    "ExtractedEntities": {"extracted_entities": []},
    "ExtractedEdges": {"edges": []},
}
MODEL_DELAY = 0.5
# Embedded documents of the bulk job waiting for their graph stage when the
# other organization's upload arrives.
BACKLOG = 12


@pytest.fixture(autouse=True)
def fair_state(settings):  # type: ignore[no-untyped-def]
    """Small windows, and no admission state left from another test."""
    settings.ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION = WINDOW
    settings.ATRIUM_BULK_GRAPH_IN_FLIGHT_PER_ORGANIZATION = WINDOW

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


def run_queued(published) -> None:  # type: ignore[no-untyped-def]
    """Run the published ingest and embed tasks here, in order, as their
    workers would (and those they publish in turn); graph tasks stay queued."""
    names = {tasks.ingest_document.name, tasks.embed_document.name}
    while entry := next((e for e in published if e[0] in names), None):
        published.remove(entry)
        app.tasks[entry[0]].apply(args=entry[1]).get()


def graph_queued(published) -> list[uuid.UUID]:  # type: ignore[no-untyped-def]
    """The documents whose graph task was published, in order."""
    return [
        uuid.UUID(args[1])
        for name, args in published
        if name == tasks.graph_document.name
    ]


def graph_run(tenant, document_id: uuid.UUID) -> dict:  # type: ignore[no-untyped-def]
    """Run one graph task here, as the graph worker would."""
    args = (str(tenant.workspace.pk), str(document_id))
    return tasks.graph_document.apply(args=args).get()


def graph_lane(tenant) -> tuple[int, list[bytes]]:  # type: ignore[no-untyped-def]
    """The organization's graph slots in use, and its waiting items."""
    keys = fairness.GRAPH.keys()
    org = tenant.organization.pk
    return (
        client().zcard(f"{keys.inflight}{org}"),
        client().lrange(f"{keys.waiting}{org}", 0, -1),
    )


def lanes_empty(tenant) -> bool:  # type: ignore[no-untyped-def]
    """Nothing of the organization waits or holds a slot in either lane."""
    org = tenant.organization.pk
    for lane in fairness.LANES:
        keys = lane.keys()
        if client().zcard(f"{keys.inflight}{org}") or client().llen(
            f"{keys.waiting}{org}"
        ):
            return False
    return True


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
    assert lanes_empty(tenant_a)


def waiting_for_graph(tenant, ids: list[uuid.UUID]) -> int:  # type: ignore[no-untyped-def]
    """How many of the documents are embedded and not yet through the graph."""
    return statuses(tenant, ids).count(DocumentStatus.GRAPH)


def stage_time(document: Document, stage: str, key: str) -> datetime:
    """When the stage was ``started`` or ``finished``."""
    return datetime.fromisoformat(document.stages[stage][key])


@pytest.mark.worker
def test_a_bulk_job_does_not_hold_up_another_organizations_graph_stage(
    tenant_a, tenant_b, tmp_path: Path, media_root: Path, graph_on: GraphServer
):
    purge_queues(("ingest", "embed", "graph"))
    with SchemaServer() as model:
        model.answers = NOTHING_FOUND
        model.delay = MODEL_DELAY
        env = {
            "ATRIUM_MEDIA_ROOT": str(media_root),
            "ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION": str(WINDOW),
            "ATRIUM_BULK_GRAPH_IN_FLIGHT_PER_ORGANIZATION": str(WINDOW),
            "ATRIUM_GRAPH_BACKEND": "falkordb",
            "ATRIUM_GRAPH_HOST": graph_on.host,
            "ATRIUM_GRAPH_PORT": str(graph_on.port),
            "ATRIUM_GRAPH_EXTRACTOR": "openai",
            "OPENAI_BASE_URL": model.api_url,
            "OPENAI_API_KEY": MODEL_KEY,
        }
        # Embedding and the graph on workers of their own, as deployed: the
        # embedding worker gets far ahead of the slow graph worker.
        embedder = start_worker(tmp_path, queues=("ingest", "embed"), extra_env=env)
        grapher = start_worker(tmp_path, queues=("graph",), extra_env=env)
        try:
            bulk = bulk_job(tenant_a, BULK_FILES, "a")
            # A backlog builds up in front of the graph stage.
            wait_until(
                lambda: waiting_for_graph(tenant_a, bulk) >= BACKLOG,
                timeout=120,
                worker=embedder,
            )
            backlog = fairness.bulk_held(bulk)
            single = upload(tenant_b.workspace, "b.md", b"# B\n\nOne upload.").document
            wait_until(
                lambda: reload(single).status == DocumentStatus.READY,
                timeout=120,
                worker=grapher,
            )
            bulk_then = statuses(tenant_a, bulk)
            wait_until(
                lambda: set(statuses(tenant_a, bulk)) == {DocumentStatus.READY},
                timeout=300,
                worker=grapher,
            )
        finally:
            stop_worker(embedder)
            stop_worker(grapher)

    # While the bulk job's embedded documents waited for the graph queue,
    # B's document went in behind at most A's graph window: only documents
    # already admitted when B's graph task was queued finished between it
    # being queued and being done (one more if a slot freed in between).
    single = reload(single)
    queued = stage_time(single, "graph", "started")
    done = stage_time(single, "graph", "finished")
    with as_workspace(tenant_a.workspace.pk):
        documents = list(Document.objects.filter(id__in=bulk))
    ahead = [d for d in documents if queued < stage_time(d, "graph", "finished") < done]
    assert len(backlog) >= BACKLOG - WINDOW
    assert len(ahead) <= WINDOW + 1
    assert bulk_then.count(DocumentStatus.GRAPH) >= BACKLOG // 2
    # The bulk job then went through the model and into the graph in full,
    # and neither lane keeps anything of it.
    for document in documents:
        assert document.stages["graph"]["extractor"] == "openai"
        assert len(episodes_of(tenant_a.workspace, document)) == 1
    assert single.stages["graph"]["extractor"] == "openai"
    assert lanes_empty(tenant_a)
    assert fairness.bulk_held(bulk) == set()


def test_admission_keeps_a_window_per_organization_and_serves_in_turn(
    tenant_a, tenant_b, published, media_root
):
    a = bulk_job(tenant_a, 5, "a")
    b = bulk_job(tenant_b, 3, "b")
    admitted = [uuid.UUID(args[1]) for _name, args in published]

    # Each organization got its window at once; the rest waits.
    assert admitted == a[:WINDOW] + b[:WINDOW]
    assert fairness.bulk_held([*a, *b]) == {*a[WINDOW:], *b[WINDOW:]}

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


def test_the_sweeper_leaves_waiting_and_newly_admitted_documents_alone(
    tenant_a, published, media_root
):
    a = bulk_job(tenant_a, 4, "a")
    with as_workspace(tenant_a.workspace.pk):
        Document.objects.filter(id__in=a).update(
            updated_at=Document.objects.first().updated_at - timedelta(days=1)
        )
    published.clear()

    # None of them moved for a day, but the waiting ones wait their turn and
    # the admitted ones have their task queued since the cutoff.
    assert (
        maintenance.document_sweep_stuck(
            workspace_id=tenant_a.workspace.pk, older_than=timedelta(hours=1)
        )
        == []
    )
    assert published == []

    # Admitted before the cutoff and silent since, they count as stuck and
    # are re-queued; the waiting ones keep their place in line.
    requeued = maintenance.document_sweep_stuck(
        workspace_id=tenant_a.workspace.pk, older_than=timedelta(microseconds=1)
    )
    assert set(requeued) == set(a[:WINDOW])
    assert fairness.bulk_held(a) == set(a[WINDOW:])


# --- The graph lane ----------------------------------------------------------


def test_embedded_bulk_documents_wait_for_the_graph_queue_and_free_a_slot_once(
    tenant_a, tenant_b, published, media_root, graph_on
):
    a = bulk_job(tenant_a, 4, "a")
    run_queued(published)

    # All four were embedded; two went on to the graph queue, two wait.
    queued = graph_queued(published)
    assert statuses(tenant_a, a) == [DocumentStatus.GRAPH] * 4
    assert set(queued) == set(a[:WINDOW]) and len(queued) == WINDOW
    waiting = [
        uuid.UUID(item.decode().split("|")[1]) for item in graph_lane(tenant_a)[1]
    ]
    assert set(waiting) == set(a[WINDOW:])
    assert fairness.bulk_held(a) == set(waiting)
    # Their ingest slots went back as they entered the graph lane.
    assert (
        client().zcard(f"{fairness.INGEST.keys().inflight}{tenant_a.organization.pk}")
        == 0
    )

    # Another organization's single upload goes straight to the graph queue.
    single = upload(tenant_b.workspace, "b.md", b"# B\n\nOne upload.").document
    run_queued(published)
    assert graph_queued(published)[WINDOW:] == [single.pk]

    # A finished graph stage frees one slot, for its organization's next.
    published.clear()
    assert graph_run(tenant_a, queued[0])["state"] == "ready"
    assert graph_queued(published) == [waiting[0]]
    published.clear()
    assert fairness.bulk_release(document_id=queued[0], lane=fairness.GRAPH) is False
    assert published == []
    assert graph_lane(tenant_a)[0] == WINDOW


def test_freed_graph_slots_serve_organizations_in_turn(
    tenant_a, tenant_b, published, media_root, graph_on
):
    a = bulk_job(tenant_a, 4, "a")
    run_queued(published)
    b = bulk_job(tenant_b, 3, "b")
    run_queued(published)
    a_waiting, b_waiting = graph_lane(tenant_a)[1], graph_lane(tenant_b)[1]
    assert len(a_waiting) == 2 and len(b_waiting) == 1

    # Every graph release was lost: once the slots are old enough, the
    # sweeper reclaims them and both windows open at the same moment.
    keys = fairness.GRAPH.keys()
    for tenant, documents in ((tenant_a, a), (tenant_b, b)):
        window = f"{keys.inflight}{tenant.organization.pk}"
        client().zadd(window, {str(d): 0 for d in documents}, xx=True)
    published.clear()
    tasks.ingest_sweep_stuck.apply().get()

    # One document per organization per turn.
    expected = [a_waiting[0], b_waiting[0], a_waiting[1]]
    assert graph_queued(published) == [
        uuid.UUID(item.decode().split("|")[1]) for item in expected
    ]
    assert graph_lane(tenant_a) == (2, []) and graph_lane(tenant_b) == (1, [])


def test_a_document_deleted_or_failing_in_the_graph_lane_frees_its_slot(
    tenant_a, published, media_root, graph_on, settings
):
    a = bulk_job(tenant_a, 3, "a")
    run_queued(published)
    first, second = graph_queued(published)
    [waiting] = fairness.bulk_held(a)

    # Deleted while queued for the graph, and while waiting for that.
    with acting_in(tenant_a.workspace.pk):
        for document in Document.objects.filter(id__in=[first, waiting]):
            services.document_delete(document=document)
    published.clear()
    assert graph_run(tenant_a, first)["state"] == "missing"
    assert graph_queued(published) == [waiting]
    assert graph_run(tenant_a, waiting)["state"] == "missing"
    assert graph_lane(tenant_a) == (1, [])

    # Failing in its graph stage: the model answers only errors.
    with SchemaServer() as model:
        settings.ATRIUM_GRAPH_EXTRACTOR = "openai"
        settings.OPENAI_BASE_URL = model.api_url
        settings.OPENAI_API_KEY = MODEL_KEY
        settings.ATRIUM_GRAPH_LLM_RETRY_SECONDS = 0.1
        assert graph_run(tenant_a, second)["state"] == "failed"
    failed = reload(Document(workspace_id=tenant_a.workspace.pk, id=second))
    assert failed.status == DocumentStatus.FAILED
    assert failed.stages["graph"]["code"] == "graph_failed"
    assert lanes_empty(tenant_a)


def test_without_redis_the_graph_task_is_queued_directly(
    tenant_a, published, media_root, graph_on, monkeypatch, caplog
):
    a = bulk_job(tenant_a, 1, "a")
    # Nothing listens there: every Redis call of the lanes fails.
    down = redis.Redis(
        host="127.0.0.1",
        port=free_port(),
        socket_connect_timeout=0.25,
        retry=Retry(NoBackoff(), 0),
    )
    monkeypatch.setattr(fairness, "client", lambda: down)
    caplog.set_level(logging.WARNING, logger="knowledge.ingestion.fairness")

    run_queued(published)

    assert graph_queued(published) == a
    assert "graph task of document" in caplog.text


def test_the_sweeper_leaves_documents_waiting_for_the_graph_queue_alone(
    tenant_a, published, media_root, graph_on
):
    a = bulk_job(tenant_a, 4, "a")
    run_queued(published)
    queued = graph_queued(published)
    assert len(queued) == WINDOW
    with as_workspace(tenant_a.workspace.pk):
        Document.objects.filter(id__in=a).update(
            updated_at=Document.objects.first().updated_at - timedelta(days=1)
        )
    published.clear()

    requeued = maintenance.document_sweep_stuck(
        workspace_id=tenant_a.workspace.pk, older_than=timedelta(microseconds=1)
    )

    # Admitted to the graph queue before the cutoff, they look stuck; the
    # documents still waiting for it are not.
    assert set(requeued) == set(queued)
    assert set(graph_queued(published)) == set(queued)
    assert fairness.bulk_held(a) == set(a) - set(queued)
