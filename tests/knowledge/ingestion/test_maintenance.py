"""The sweepers re-queue stuck documents and delete orphaned files;
re-embedding follows a model change. All act inside one workspace at a time."""

import os
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from knowledge import tasks
from knowledge.embeddings import get_provider
from knowledge.ingestion import maintenance, storage
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


def backdate(name, *, hours):
    when = (timezone.now() - timedelta(hours=hours)).timestamp()
    os.utime(default_storage.path(name), (when, when))


def orphan(workspace, *, hours):
    name = storage.file_save(workspace_id=workspace.pk, fmt="text", data=b"left")
    backdate(name, hours=hours)
    return name


def test_a_rolled_back_upload_leaves_a_file_the_orphan_sweep_removes(
    tenant_a, settings
):
    settings.ATRIUM_ORPHAN_FILE_GRACE_SECONDS = 3600
    kept = upload(tenant_a.workspace, "kept.txt", b"kept words").document
    backdate(kept.file.name, hours=48)
    with pytest.raises(RuntimeError), transaction.atomic():
        upload(tenant_a.workspace, "lost.txt", b"lost words")
        raise RuntimeError("the request failed after the upload")
    directory = storage.workspace_directory(tenant_a.workspace.pk)
    (lost,) = set(default_storage.listdir(directory)[1]) - {
        os.path.basename(kept.file.name)
    }
    young = f"{directory}/{lost}"
    assert default_storage.exists(young)

    within_grace = maintenance.files_sweep_orphans(workspace_id=tenant_a.workspace.pk)
    backdate(young, hours=2)
    past_grace = maintenance.files_sweep_orphans(workspace_id=tenant_a.workspace.pk)

    assert within_grace == []
    assert past_grace == [young]
    assert not default_storage.exists(young)
    assert storage.file_read(kept.file.name) == b"kept words"


def test_orphan_sweep_task_keeps_each_workspace_to_its_own_files(
    tenant_a, tenant_b, settings
):
    settings.ATRIUM_ORPHAN_FILE_GRACE_SECONDS = 3600
    mine = orphan(tenant_a.workspace, hours=2)
    theirs = orphan(tenant_b.workspace, hours=2)
    theirs_young = orphan(tenant_b.workspace, hours=0)
    document_b = upload(tenant_b.workspace, "b.txt", b"b words").document
    backdate(document_b.file.name, hours=48)

    only_a = maintenance.files_sweep_orphans(workspace_id=tenant_a.workspace.pk)
    assert default_storage.exists(theirs)
    removed = tasks.ingest_sweep_orphan_files()

    assert only_a == [mine]
    assert removed == 1  # B's old orphan
    assert not default_storage.exists(theirs)
    assert default_storage.exists(theirs_young)
    assert default_storage.exists(document_b.file.name)


def test_orphan_sweep_of_a_workspace_without_files_removes_nothing(tenant_a):
    assert maintenance.files_sweep_orphans(workspace_id=tenant_a.workspace.pk) == []


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
