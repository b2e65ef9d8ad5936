"""Document services: create with dedup, re-ingest, delete, retry; never across
workspaces."""

import io

import pytest
from django.core.files.storage import default_storage
from django.db import DatabaseError

from knowledge import services
from knowledge.ingestion.errors import IngestionError
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy.context import as_workspace
from tenancy.models import AuditLog
from tests.knowledge import corpus
from tests.knowledge.conftest import acting_in, ingest, reload, upload

pytestmark = pytest.mark.django_db


def chunks_of(document):
    with acting_in(document.workspace_id):
        return list(
            Chunk.objects.filter(
                workspace_id=document.workspace_id, document_id=document.id
            ).order_by("chunk_index")
        )


def test_create_stores_under_a_generated_name_and_queues_after_commit(
    tenant_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        result = upload(tenant_a.workspace, "../../etc/Secret Plan.md", corpus.MARKDOWN)

    document = result.document
    assert result.created is True
    assert document.status == DocumentStatus.QUEUED
    assert document.source == "Secret Plan.md"
    assert document.title == "Secret Plan"
    assert document.content_type == "text/markdown"
    assert document.size_bytes == len(corpus.MARKDOWN)
    assert len(document.content_hash) == 64
    name = document.file.name
    assert name.startswith(f"documents/{tenant_a.workspace.pk}/")
    assert name.endswith(".md") and "Secret" not in name and ".." not in name
    assert default_storage.open(name).read() == corpus.MARKDOWN
    assert set(document.stages) == {"parsing", "chunking", "embedding", "graph"}
    assert len(callbacks) == 1  # the ingest task, published only on commit
    with acting_in(tenant_a.workspace.pk):
        assert AuditLog.objects.filter(
            action="document.create", target_id=str(document.pk)
        ).exists()


@pytest.mark.django_db(transaction=True)
def test_publishes_only_after_commit(tenant_a, published):
    with pytest.raises(RuntimeError):
        with acting_in(tenant_a.workspace.pk):
            services.document_create(
                workspace=tenant_a.workspace, text="Draft", title="Draft"
            )
            assert published == []  # not inside the open transaction
            raise RuntimeError("the request failed after creating")
    rolled_back = list(published)
    with acting_in(tenant_a.workspace.pk):
        created = services.document_create(
            workspace=tenant_a.workspace, text="Final", title="Final"
        ).document

    assert rolled_back == []
    assert published == [
        (
            "knowledge.tasks.ingest_document",
            (str(tenant_a.workspace.pk), str(created.pk)),
        )
    ]
    with acting_in(tenant_a.workspace.pk):
        assert Document.objects.filter(workspace=tenant_a.workspace).count() == 1


def test_create_from_text_and_title(tenant_a):
    with acting_in(tenant_a.workspace.pk):
        result = services.document_create(
            workspace=tenant_a.workspace,
            text="# Heading\n\nBody text.",
            title="My Notes",
            text_format="markdown",
        )

    document = result.document
    assert document.title == "My Notes"
    assert document.metadata["format"] == "markdown"
    assert document.metadata["title_source"] == "user"
    assert document.file.name.endswith(".md")
    ingest(document)
    assert reload(document).title == "My Notes"  # the user's title wins


def test_identical_content_is_a_no_op_returning_the_existing_document(tenant_a):
    first = upload(tenant_a.workspace, "a.txt", b"same words")
    files_before = sorted(
        default_storage.listdir(f"documents/{tenant_a.workspace.pk}")[1]
    )

    again = upload(tenant_a.workspace, "renamed.txt", b"same words")

    assert again.created is False
    assert again.document.pk == first.document.pk
    files_after = sorted(
        default_storage.listdir(f"documents/{tenant_a.workspace.pk}")[1]
    )
    assert files_after == files_before
    with acting_in(tenant_a.workspace.pk):
        assert Document.objects.filter(workspace=tenant_a.workspace).count() == 1


def test_dedup_is_per_workspace(tenant_a, tenant_b):
    in_b = upload(tenant_b.workspace, "b.txt", b"shared words").document

    in_a = upload(tenant_a.workspace, "a.txt", b"shared words")

    assert in_a.created is True
    assert in_a.document.pk != in_b.pk
    assert reload(in_b).file.name == in_b.file.name


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("x.exe", b"MZ", "unsupported_type"),
        ("x.txt", b"", "empty_file"),
        ("x.pdf", b"hello", "type_mismatch"),
        ("x.docx", corpus.docx_bomb(), "archive_bomb"),
        ("x.docm", corpus.docx_file(), "macro_document"),
        ("x.docx", corpus.docx_content_types_bomb(), "corrupt_file"),
        ("x.docx", corpus.docx_traversal(), "archive_bomb"),
        ("x.docx", corpus.encrypted_ooxml(), "encrypted_file"),
    ],
)
def test_refused_uploads_store_nothing(tenant_a, media_root, filename, data, code):
    with pytest.raises(IngestionError) as refused:
        upload(tenant_a.workspace, filename, data)

    assert refused.value.code == code
    assert not (media_root / "documents").exists()
    with acting_in(tenant_a.workspace.pk):
        assert not Document.objects.filter(workspace=tenant_a.workspace).exists()


def test_size_limit(tenant_a, settings):
    settings.ATRIUM_UPLOAD_MAX_BYTES = 100

    with pytest.raises(IngestionError) as refused:
        upload(tenant_a.workspace, "big.txt", b"x" * 101)
    exactly = upload(tenant_a.workspace, "ok.txt", b"y" * 100)

    assert refused.value.code == "file_too_large"
    assert exactly.created is True


def test_reingest_changed_content_replaces_chunks(
    tenant_a, django_capture_on_commit_callbacks
):
    document = upload(tenant_a.workspace, "notes.md", corpus.MARKDOWN).document
    ingest(document)
    old_file = reload(document).file.name
    old_ids = {c.pk for c in chunks_of(document)}

    with django_capture_on_commit_callbacks(execute=True):
        with acting_in(tenant_a.workspace.pk):
            result = services.document_reingest(
                document=document,
                file=io.BytesIO(b"# New\n\nOnly this."),
                filename="n.md",
            )
    # Until the new content is chunked, the old chunks stay searchable.
    assert {c.pk for c in chunks_of(document)} == old_ids
    ingest(document)

    document = reload(document)
    assert result.created is True
    assert document.status == DocumentStatus.READY
    assert [c.content for c in chunks_of(document)] == ["New\n\nOnly this."]
    assert not old_ids & {c.pk for c in chunks_of(document)}
    assert not default_storage.exists(old_file)
    assert default_storage.exists(document.file.name)


def test_reingest_same_content_is_a_no_op(tenant_a, django_capture_on_commit_callbacks):
    document = upload(tenant_a.workspace, "notes.md", corpus.MARKDOWN).document
    ingest(document)

    with django_capture_on_commit_callbacks() as callbacks:
        with acting_in(tenant_a.workspace.pk):
            result = services.document_reingest(
                document=document, file=io.BytesIO(corpus.MARKDOWN), filename="n.md"
            )

    assert result.created is False
    assert callbacks == []
    assert reload(document).status == DocumentStatus.READY


def test_reingest_to_content_another_document_holds(tenant_a):
    first = upload(tenant_a.workspace, "a.txt", b"first").document
    upload(tenant_a.workspace, "b.txt", b"second")

    with pytest.raises(IngestionError) as refused:
        with acting_in(tenant_a.workspace.pk):
            services.document_reingest(document=first, text="second")

    assert refused.value.code == "duplicate_content"


def test_delete_removes_chunks_and_file(tenant_a, django_capture_on_commit_callbacks):
    document = upload(tenant_a.workspace, "notes.md", corpus.MARKDOWN).document
    ingest(document)
    name = reload(document).file.name
    assert chunks_of(document)

    with django_capture_on_commit_callbacks(execute=True):
        with acting_in(tenant_a.workspace.pk):
            services.document_delete(document=document)

    assert chunks_of(document) == []
    assert not default_storage.exists(name)
    with acting_in(tenant_a.workspace.pk):
        assert not Document.objects.filter(pk=document.pk).exists()
        assert AuditLog.objects.filter(action="document.delete").count() == 1


def test_retry_restarts_the_failed_stage(tenant_a, settings):
    document = upload(tenant_a.workspace, "notes.md", corpus.MARKDOWN).document
    settings.ATRIUM_DOCUMENT_MAX_CHUNKS = 1
    ingest(document)
    failed = reload(document)
    assert failed.status == DocumentStatus.FAILED
    assert failed.stages["chunking"]["code"] == "too_many_chunks"
    assert failed.stages["parsing"]["state"] == "done"

    settings.ATRIUM_DOCUMENT_MAX_CHUNKS = 5000
    with acting_in(tenant_a.workspace.pk):
        retried = services.document_retry(document=failed)
    assert retried.status == DocumentStatus.QUEUED
    assert retried.stages["chunking"] == {"state": "pending"}
    assert retried.error == ""
    ingest(document)

    assert reload(document).status == DocumentStatus.READY


def test_retry_refuses_a_document_that_has_not_failed(tenant_a):
    document = upload(tenant_a.workspace, "a.txt", b"words").document

    with pytest.raises(IngestionError) as refused:
        with acting_in(tenant_a.workspace.pk):
            services.document_retry(document=document)

    assert refused.value.code == "not_retryable"


@pytest.mark.parametrize(
    "act",
    [
        lambda d: services.document_delete(document=d),
        lambda d: services.document_retry(document=d),
        lambda d: services.document_reingest(document=d, text="overwritten"),
    ],
    ids=["delete", "retry", "reingest"],
)
def test_services_never_touch_another_workspace(tenant_a, tenant_b, act):
    foreign = upload(tenant_b.workspace, "b.md", corpus.MARKDOWN).document
    ingest(foreign)
    before = reload(foreign)
    chunk_ids = [c.pk for c in chunks_of(foreign)]

    with pytest.raises(Document.DoesNotExist):
        with acting_in(tenant_a.workspace.pk):
            act(foreign)

    after = reload(foreign)
    assert after.status == DocumentStatus.READY
    assert after.content_hash == before.content_hash
    assert default_storage.exists(after.file.name)
    assert [c.pk for c in chunks_of(foreign)] == chunk_ids


def test_create_in_one_workspace_cannot_see_another(tenant_a, tenant_b):
    upload(tenant_b.workspace, "b.txt", b"canary-b")

    with acting_in(tenant_a.workspace.pk):
        visible = list(Document.objects.all())

    assert visible == []


def test_create_into_another_workspace_is_refused_and_leaves_no_file(
    tenant_a, tenant_b, media_root
):
    with pytest.raises(DatabaseError, match="row-level security"):
        with acting_in(tenant_a.workspace.pk):
            services.document_create(
                workspace=tenant_b.workspace, text="planted", title="Planted"
            )

    stored = media_root / "documents" / str(tenant_b.workspace.pk)
    assert list(stored.glob("*")) == []  # the file written first was removed
    with acting_in(tenant_b.workspace.pk):
        assert not Document.objects.filter(workspace=tenant_b.workspace).exists()


@pytest.mark.parametrize(
    ("filename", "source"),
    [
        ("../../x.txt", "x.txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
        ("..\\..\\windows\\evil.txt", "evil.txt"),
        ("n" * 300 + ".txt", "n" * 251 + ".txt"),
    ],
)
def test_path_tricks_in_names_are_stored_safely(tenant_a, media_root, filename, source):
    document = upload(tenant_a.workspace, filename, b"harmless words").document

    stored = media_root / document.file.name
    assert document.source == source
    assert (
        stored.resolve().parent
        == (media_root / "documents" / str(tenant_a.workspace.pk)).resolve()
    )
    assert len(stored.name) == 36  # 32 hex characters and ".txt"
    assert stored.read_bytes() == b"harmless words"


def test_reingest_forgets_what_the_old_version_parsed_but_keeps_the_uploaders(
    tenant_a, django_capture_on_commit_callbacks
):
    document = upload(
        tenant_a.workspace, "page.html", corpus.HTML, metadata={"team": "support"}
    ).document
    ingest(document)
    before = reload(document).metadata

    with django_capture_on_commit_callbacks(execute=True):
        with acting_in(tenant_a.workspace.pk):
            services.document_reingest(document=document, text="Plain words now.")
    ingest(document)

    document = reload(document)
    assert before["author"] == "Docs Team" and before["language"] == "en"
    assert "author" not in document.metadata and "language" not in document.metadata
    assert document.metadata["team"] == "support"
    assert document.metadata["format"] == "text"
    assert document.source == ""


def test_a_parse_run_again_still_knows_which_metadata_it_added(tenant_a):
    document = upload(
        tenant_a.workspace, "page.html", corpus.HTML, metadata={"team": "support"}
    ).document
    ingest(document)
    # A redelivered ingest task parses the same content a second time.
    with as_workspace(tenant_a.workspace.pk):
        Document.objects.filter(pk=document.pk).update(status=DocumentStatus.QUEUED)
    ingest(document)

    keys = reload(document).stages["parsing"]["metadata_keys"]
    assert {"author", "language"} <= set(keys)
    assert "team" not in keys
