"""The graph stage: skipped without a graph module, run through the seam with one."""

import importlib
import sys
import types

import pytest

from knowledge import services
from knowledge.ingestion import graph_step, pipeline
from knowledge.ingestion.errors import IngestionError
from knowledge.models import Chunk, DocumentStatus
from tenancy.context import as_workspace
from tests.knowledge import corpus
from tests.knowledge.conftest import acting_in, ingest, reload, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def graph_module(monkeypatch):
    """Install a ``knowledge.graph`` module whose hooks record their calls."""
    module = types.ModuleType("knowledge.graph")
    module.calls = []
    module.fail = False
    module.refuse = False

    def extract_document(*, workspace_id, document_id):
        module.calls.append(("extract", workspace_id, document_id))
        if module.fail:
            raise ConnectionError("graph backend down")
        if module.refuse:
            raise IngestionError("graph_budget_exceeded", "Budget used up.")
        with as_workspace(workspace_id):
            seen = Chunk.objects.filter(
                workspace_id=workspace_id, document_id=document_id
            ).exclude(embedding=None)
            return {"episodes": seen.count()}

    def delete_document(*, workspace_id, document_id):
        module.calls.append(("delete", workspace_id, document_id))

    module.extract_document = extract_document
    module.delete_document = delete_document
    monkeypatch.setitem(sys.modules, "knowledge.graph", module)
    return module


def test_without_a_graph_module_the_stage_is_skipped(monkeypatch):
    # None in sys.modules makes the import fail as if the module were absent.
    monkeypatch.setitem(sys.modules, "knowledge.graph", None)
    assert graph_step.graph_hook("extract_document") is None
    assert graph_step.GRAPH_SKIPPED == {
        "state": "skipped",
        "reason": "no graph backend configured",
    }


def test_the_hook_runs_after_embedding_and_its_summary_is_kept(tenant_a, graph_module):
    document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document

    ingest(document)

    document = reload(document)
    assert graph_module.calls == [("extract", tenant_a.workspace.pk, document.pk)]
    # Every chunk was already embedded (vector-searchable) when it ran.
    assert document.stages["graph"]["state"] == "done"
    assert document.stages["graph"]["episodes"] == document.chunk_count
    assert document.status == DocumentStatus.READY


def test_a_failing_hook_fails_the_stage_and_retry_reruns_only_it(
    tenant_a, graph_module
):
    graph_module.fail = True
    document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document
    ingest(document)
    failed = reload(document)
    embedded_at = failed.stages["embedding"]["finished"]
    assert failed.status == DocumentStatus.FAILED
    assert failed.stages["graph"]["code"] == "graph_failed"
    assert "ConnectionError" in failed.error

    graph_module.fail = False
    with acting_in(tenant_a.workspace.pk):
        retried = services.document_retry(document=failed)
    assert retried.status == DocumentStatus.GRAPH
    # The embed task has nothing to do at this status; the graph task runs.
    skipped = pipeline.document_embed_run(
        workspace_id=tenant_a.workspace.pk, document_id=document.pk
    )
    result = pipeline.document_graph_run(
        workspace_id=tenant_a.workspace.pk, document_id=document.pk
    )

    document = reload(document)
    assert skipped["state"] == DocumentStatus.GRAPH and skipped["chunks"] == 0
    assert result["state"] == DocumentStatus.READY
    assert document.stages["embedding"]["finished"] == embedded_at  # not redone
    assert document.stages["graph"]["state"] == "done"
    assert len(graph_module.calls) == 2


def test_a_refusal_raised_by_the_hook_keeps_its_code(tenant_a, graph_module):
    graph_module.refuse = True
    document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document

    ingest(document)

    failed = reload(document)
    assert failed.status == DocumentStatus.FAILED
    assert failed.stages["graph"]["code"] == "graph_budget_exceeded"
    assert failed.error == "graph_budget_exceeded: Budget used up."


def test_deleting_a_document_calls_the_delete_hook_after_commit(
    tenant_a, graph_module, django_capture_on_commit_callbacks
):
    document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document

    with django_capture_on_commit_callbacks(execute=True):
        with acting_in(tenant_a.workspace.pk):
            services.document_delete(document=document)

    assert ("delete", tenant_a.workspace.pk, document.pk) in graph_module.calls


def test_a_graph_module_that_cannot_load_fails_the_stage_not_the_task(
    tenant_a, monkeypatch, django_capture_on_commit_callbacks
):
    def broken_import(name, *args, **kwargs):
        if name == "knowledge.graph":
            raise ModuleNotFoundError(
                "No module named 'graphiti_core'", name="graphiti_core"
            )
        return original(name, *args, **kwargs)

    original = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", broken_import)
    document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document

    ingest(document)
    failed = reload(document)
    with django_capture_on_commit_callbacks(execute=True):
        with acting_in(tenant_a.workspace.pk):
            services.document_delete(document=failed)

    assert failed.status == DocumentStatus.FAILED
    assert failed.stages["graph"]["code"] == "graph_failed"
    assert "graphiti_core" in failed.error
    with acting_in(tenant_a.workspace.pk):
        assert not Chunk.objects.filter(document_id=document.pk).exists()
