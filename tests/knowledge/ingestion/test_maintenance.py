"""The sweeper re-queues stuck documents; re-embedding follows a model change.
Both act inside one workspace at a time."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from knowledge import tasks
from knowledge.embeddings import get_provider
from knowledge.ingestion import maintenance
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy.context import as_workspace
from tests.knowledge import corpus
from tests.knowledge.conftest import ingest, reload, upload

pytestmark = pytest.mark.django_db


def age(document, *, minutes, status=None):
    fields = {"updated_at": timezone.now() - timedelta(minutes=minutes)}
    if status:
        fields["status"] = status
    with as_workspace(document.workspace_id):
        Document.objects.filter(pk=document.pk).update(**fields)


def test_sweeper_requeues_only_stuck_documents(
    tenant_a, published, django_capture_on_commit_callbacks
):
    queued = upload(tenant_a.workspace, "q.txt", b"queued words").document
    embedding = upload(tenant_a.workspace, "e.txt", b"embedding words").document
    fresh = upload(tenant_a.workspace, "f.txt", b"fresh words").document
    ready = upload(tenant_a.workspace, "r.txt", b"ready words").document
    ingest(ready)
    age(queued, minutes=60)
    age(embedding, minutes=60, status=DocumentStatus.EMBEDDING)
    age(ready, minutes=60)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        swept = maintenance.document_sweep_stuck(
            workspace_id=tenant_a.workspace.pk, older_than=timedelta(minutes=30)
        )

    assert set(swept) == {queued.pk, embedding.pk}
    assert sorted(published) == sorted(
        [
            (
                "knowledge.tasks.ingest_document",
                (str(tenant_a.workspace.pk), str(queued.pk)),
            ),
            (
                "knowledge.tasks.embed_document",
                (str(tenant_a.workspace.pk), str(embedding.pk)),
            ),
        ]
    )
    # Touched: the next sweep waits a whole period again.
    assert reload(queued).updated_at > timezone.now() - timedelta(minutes=1)
    assert reload(fresh).status == DocumentStatus.QUEUED
    again = maintenance.document_sweep_stuck(
        workspace_id=tenant_a.workspace.pk, older_than=timedelta(minutes=30)
    )
    assert again == []


def test_sweep_task_visits_every_workspace_in_its_own_context(
    tenant_a, tenant_b, settings
):
    settings.ATRIUM_INGEST_STUCK_SECONDS = 60
    stuck_a = upload(tenant_a.workspace, "a.txt", b"a words").document
    stuck_b = upload(tenant_b.workspace, "b.txt", b"b words").document
    age(stuck_a, minutes=5)
    age(stuck_b, minutes=5)

    only_a = maintenance.document_sweep_stuck(workspace_id=tenant_a.workspace.pk)
    both = tasks.ingest_sweep_stuck()

    assert only_a == [stuck_a.pk]
    assert both == 1  # B's document; A's was just touched by the first sweep


def stale(document, model="old-model"):
    with as_workspace(document.workspace_id):
        Chunk.objects.filter(document_id=document.pk).update(embedding_model=model)


def models_of(document):
    with as_workspace(document.workspace_id):
        return set(
            Chunk.objects.filter(document_id=document.pk).values_list(
                "embedding_model", flat=True
            )
        )


def test_reembed_refreshes_chunks_of_another_model_in_one_workspace_only(
    tenant_a, tenant_b
):
    mine = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document
    theirs = upload(tenant_b.workspace, "b.md", corpus.MARKDOWN).document
    ingest(mine)
    ingest(theirs)
    stale(mine)
    stale(theirs)

    result = maintenance.workspace_reembed(workspace_id=tenant_a.workspace.pk)
    repeat = maintenance.workspace_reembed(workspace_id=tenant_a.workspace.pk)
    forced = maintenance.workspace_reembed(
        workspace_id=tenant_a.workspace.pk, force=True
    )

    assert result["chunks"] == reload(mine).chunk_count and result["tokens"] > 0
    assert repeat["chunks"] == 0
    assert forced["chunks"] == reload(mine).chunk_count
    assert models_of(mine) == {get_provider().name}
    assert models_of(theirs) == {"old-model"}


def test_reembed_command(tenant_a, tenant_b, capsys):
    mine = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document
    theirs = upload(tenant_b.workspace, "b.md", corpus.MARKDOWN).document
    ingest(mine)
    ingest(theirs)
    stale(mine)
    stale(theirs)

    call_command("knowledge_reembed", "--workspace", str(tenant_a.workspace.pk))
    only_a = capsys.readouterr().out
    call_command("knowledge_reembed")
    everything = capsys.readouterr().out

    assert f"{tenant_a.workspace.pk}: {reload(mine).chunk_count} chunks" in only_a
    assert models_of(theirs) == {get_provider().name}
    assert (
        f"re-embedded {reload(theirs).chunk_count} chunks in 2 workspaces" in everything
    )
