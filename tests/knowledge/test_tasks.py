"""Task wiring: names route to the ingest and embed queues; time limits end
in a failed state, not a stuck document."""

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from config.celery import app
from knowledge import tasks
from knowledge.ingestion import pipeline
from knowledge.models import DocumentStatus
from tests.knowledge import corpus
from tests.knowledge.conftest import reload, upload


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        (tasks.ingest_document, "ingest"),
        (tasks.ingest_sweep_stuck, "ingest"),
        (tasks.ingest_sweep_orphan_files, "ingest"),
        (tasks.embed_document, "embed"),
        (tasks.embed_workspace_reembed, "embed"),
        (tasks.graph_document, "graph"),
    ],
)
def test_task_names_route_to_their_queues(task, queue):
    route = app.amqp.router.route({}, task.name, args=("w", "d"), kwargs={})

    assert route["queue"].name == queue


@pytest.mark.django_db
def test_a_soft_time_limit_fails_the_stage_with_timeout(tenant_a, monkeypatch):
    document = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document

    def too_slow(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(pipeline, "document_ingest_run", too_slow)
    outcome = tasks.ingest_document.apply(
        args=(str(tenant_a.workspace.pk), str(document.pk))
    ).get()

    document = reload(document)
    assert outcome["code"] == "timeout"
    assert document.status == DocumentStatus.FAILED
    assert document.stages["parsing"]["code"] == "timeout"


@pytest.mark.django_db
def test_the_ingest_task_runs_the_pipeline(tenant_a, published):
    document = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document

    outcome = tasks.ingest_document.apply(
        args=(str(tenant_a.workspace.pk), str(document.pk))
    ).get()

    assert outcome == {
        "document_id": str(document.pk),
        "state": "chunked",
        "chunks": reload(document).chunk_count,
    }
    assert reload(document).status == DocumentStatus.EMBEDDING
