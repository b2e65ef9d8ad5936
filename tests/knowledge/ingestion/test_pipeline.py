"""The stages end to end in this process: states, progress, idempotency,
resumption, failures with codes, and no reach into another workspace."""

import pytest

from knowledge.embeddings import EmbeddingError, get_provider
from knowledge.ingestion import pipeline
from knowledge.models import Chunk, DocumentStatus
from tenancy.context import as_workspace
from tenancy.models import Workspace
from tests.knowledge import corpus
from tests.knowledge.conftest import acting_in, ingest, reload, upload

pytestmark = pytest.mark.django_db


def chunks_of(document):
    with as_workspace(document.workspace_id):
        return list(
            Chunk.objects.filter(
                workspace_id=document.workspace_id, document_id=document.id
            ).order_by("chunk_index")
        )


@pytest.mark.parametrize(
    ("filename", "data", "title"),
    [
        ("notes.txt", b"Plain title\n\nSome plain words here.", "Plain title"),
        ("handbook.md", corpus.MARKDOWN, "Atrium Handbook"),
        ("notes.html", corpus.HTML, "Release Notes"),
        ("plan.pdf", corpus.pdf(["Page one", "Page two"], title="Plan"), "Plan"),
        ("report.docx", corpus.docx_file(), "Quarterly Report"),
    ],
)
def test_every_format_ends_ready_and_embedded(tenant_a, filename, data, title):
    document = upload(tenant_a.workspace, filename, data).document

    result = ingest(document)

    document = reload(document)
    chunks = chunks_of(document)
    assert document.status == DocumentStatus.READY
    assert document.progress == 100
    assert document.title == title
    assert document.ingested_at is not None
    assert document.chunk_count == len(chunks) > 0
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    for stage in ("parsing", "chunking", "embedding"):
        assert document.stages[stage]["state"] == "done"
        assert document.stages[stage]["started"] <= document.stages[stage]["finished"]
    assert document.stages["graph"]["state"] == "skipped"
    assert document.stages["graph"]["reason"] == "no graph backend configured"
    assert all(len(c.embedding) == 384 for c in chunks)
    assert {c.embedding_model for c in chunks} == {get_provider().name}
    # The embed step reports the tokens it embedded, for metering.
    assert result["tokens"] == sum(c.token_count for c in chunks) > 0
    assert document.stages["embedding"]["tokens"] == result["tokens"]


def test_markdown_chunks_carry_heading_paths(tenant_a):
    document = upload(tenant_a.workspace, "handbook.md", corpus.MARKDOWN).document

    ingest(document)

    paths = [c.metadata["heading_path"] for c in chunks_of(document)]
    assert ["Atrium Handbook", "Billing", "Refunds"] in paths


def test_chunk_size_comes_from_the_workspace(tenant_a):
    with as_workspace(tenant_a.workspace.pk):
        Workspace.objects.filter(pk=tenant_a.workspace.pk).update(
            settings={"chunk_size": 200, "chunk_overlap": 40}
        )
    text = " ".join(f"Fact {n} is recorded here." for n in range(100)).encode()
    document = upload(tenant_a.workspace, "facts.txt", text).document

    ingest(document)

    document = reload(document)
    assert document.stages["chunking"]["chunk_size"] == 200
    assert document.stages["chunking"]["chunk_overlap"] == 40
    assert all(len(c.content) <= 201 for c in chunks_of(document))
    assert document.chunk_count > 10


@pytest.mark.parametrize(
    ("filename", "make", "code"),
    [
        (
            "locked.pdf",
            lambda: corpus.pdf(["secret"], password="pw-123456"),
            "encrypted_file",
        ),
        ("bomb.pdf", corpus.pdf_bomb, "archive_bomb"),
        ("broken.pdf", lambda: b"%PDF-1.7\n%%EOF garbage", "corrupt_file"),
        ("scan.pdf", lambda: corpus.pdf([""]), "no_text"),
        ("latin.txt", lambda: "résumé".encode("latin-1"), "bad_encoding"),
        ("blank.md", lambda: b"\n\n   \n", "no_text"),
        ("broken.docx", corpus.docx_broken_xml, "corrupt_file"),
    ],
)
def test_hostile_files_fail_with_a_code_and_harm_nothing(
    tenant_a, filename, make, code
):
    healthy = upload(tenant_a.workspace, "healthy.md", corpus.MARKDOWN).document
    ingest(healthy)
    healthy_chunks = [c.pk for c in chunks_of(healthy)]
    document = upload(tenant_a.workspace, filename, make()).document

    result = ingest(document)

    document = reload(document)
    assert result == {"document_id": str(document.pk), "state": "failed", "code": code}
    assert document.status == DocumentStatus.FAILED
    assert document.error.startswith(f"{code}: ")
    assert document.stages["parsing"]["state"] == "failed"
    assert document.stages["parsing"]["code"] == code
    assert chunks_of(document) == []
    assert reload(healthy).status == DocumentStatus.READY
    assert [c.pk for c in chunks_of(healthy)] == healthy_chunks


def test_page_cap_fails_the_parsing_stage(tenant_a, settings):
    settings.ATRIUM_PDF_MAX_PAGES = 1
    document = upload(tenant_a.workspace, "long.pdf", corpus.pdf(["a", "b"])).document

    ingest(document)

    assert reload(document).stages["parsing"]["code"] == "too_many_pages"


def test_rerunning_each_step_never_duplicates_chunks(
    tenant_a, published, django_capture_on_commit_callbacks
):
    document = upload(tenant_a.workspace, "handbook.md", corpus.MARKDOWN).document
    ids = {"workspace_id": tenant_a.workspace.pk, "document_id": document.pk}
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        pipeline.document_ingest_run(**ids)
        again = pipeline.document_ingest_run(**ids)  # a redelivered ingest task
        first = [(c.pk, c.content) for c in chunks_of(document)]
        pipeline.document_embed_run(**ids)
        repeat = pipeline.document_embed_run(**ids)  # a redelivered embed task

    assert again["state"] == DocumentStatus.EMBEDDING
    assert repeat["state"] == DocumentStatus.READY and repeat["tokens"] == 0
    assert [(c.pk, c.content) for c in chunks_of(document)] == first
    assert reload(document).chunk_count == len(first)
    # Chunking queued the embed task once; the rerun queued nothing.
    assert [name for name, _ in published] == ["knowledge.tasks.embed_document"]


def test_an_interrupted_ingest_redone_replaces_its_chunks(tenant_a):
    document = upload(tenant_a.workspace, "handbook.md", corpus.MARKDOWN).document
    ids = {"workspace_id": tenant_a.workspace.pk, "document_id": document.pk}
    pipeline.document_ingest_run(**ids)
    count = len(chunks_of(document))
    # As if the worker died after chunking but the state said otherwise.
    with as_workspace(tenant_a.workspace.pk):
        type(document).objects.filter(pk=document.pk).update(status="parsing")

    pipeline.document_ingest_run(**ids)

    chunks = chunks_of(document)
    assert len(chunks) == count
    assert [c.chunk_index for c in chunks] == list(range(count))


class FailingAfter:
    """Wraps a provider; fails every call after the first ``calls``."""

    def __init__(self, inner, calls):
        self.inner, self.calls = inner, calls
        self.name, self.dimensions = inner.name, inner.dimensions

    def embed(self, texts):
        if self.calls == 0:
            raise EmbeddingError("provider_unavailable", "down", retryable=True)
        self.calls -= 1
        return self.inner.embed(texts)


def test_embedding_resumes_where_it_stopped(tenant_a, settings):
    settings.ATRIUM_EMBEDDING_BATCH_SIZE = 2
    text = "\n\n".join(f"# Part {n}\n\nBody of part {n}." for n in range(7)).encode()
    document = upload(tenant_a.workspace, "parts.md", text).document
    ids = {"workspace_id": tenant_a.workspace.pk, "document_id": document.pk}
    pipeline.document_ingest_run(**ids)

    with pytest.raises(EmbeddingError):
        pipeline.document_embed_run(**ids, provider=FailingAfter(get_provider(), 2))
    halfway = reload(document)
    done = sum(c.embedding is not None for c in chunks_of(document))
    result = pipeline.document_embed_run(**ids)

    assert halfway.status == DocumentStatus.EMBEDDING
    assert done == 4
    assert 20 < halfway.progress < 90
    assert halfway.stages["embedding"]["embedded"] == 4
    assert result["chunks"] == 3  # only what was left
    assert reload(document).status == DocumentStatus.READY


def test_a_document_that_keeps_dying_fails_after_the_attempt_limit(tenant_a, settings):
    settings.ATRIUM_INGEST_MAX_ATTEMPTS = 2
    document = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document
    with as_workspace(tenant_a.workspace.pk):
        # Two deliveries already started parsing and never finished.
        type(document).objects.filter(pk=document.pk).update(
            status="parsing", attempts=2
        )

    result = pipeline.document_ingest_run(
        workspace_id=tenant_a.workspace.pk, document_id=document.pk
    )

    document = reload(document)
    assert result["state"] == DocumentStatus.FAILED
    assert document.stages["parsing"]["code"] == "too_many_attempts"
    assert chunks_of(document) == []


def test_embedding_a_reingested_document_does_nothing(tenant_a):
    from knowledge import services

    document = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document
    ids = {"workspace_id": tenant_a.workspace.pk, "document_id": document.pk}
    pipeline.document_ingest_run(**ids)
    with acting_in(tenant_a.workspace.pk):
        services.document_reingest(document=document, text="Other text.")

    result = pipeline.document_embed_run(**ids)

    assert result["state"] == DocumentStatus.QUEUED
    assert all(c.embedding is None for c in chunks_of(document))


def test_steps_run_for_another_workspace_see_nothing(tenant_a, tenant_b):
    foreign = upload(tenant_b.workspace, "b.md", corpus.MARKDOWN).document
    wrong = {"workspace_id": tenant_a.workspace.pk, "document_id": foreign.pk}

    ingested = pipeline.document_ingest_run(**wrong)
    embedded = pipeline.document_embed_run(**wrong)

    assert ingested["state"] == embedded["state"] == "missing"
    foreign = reload(foreign)
    assert foreign.status == DocumentStatus.QUEUED
    assert foreign.attempts == 0
    assert chunks_of(foreign) == []


def test_each_stage_is_committed_in_order_with_rising_progress(tenant_a, monkeypatch):
    document = upload(tenant_a.workspace, "handbook.md", corpus.MARKDOWN).document
    seen = []
    original = pipeline.save_touched

    def recording(document, *fields):
        original(document, *fields)
        seen.append((document.status, document.progress))

    monkeypatch.setattr(pipeline, "save_touched", recording)
    ingest(document)

    statuses = [status for status, _ in seen]
    distinct = [s for n, s in enumerate(statuses) if n == 0 or statuses[n - 1] != s]
    # No graph is configured: the embedding stage records it skipped and the
    # document is ready without a graph task (tests/knowledge/ingestion/
    # test_graph_step.py follows the graph status).
    assert distinct == ["parsing", "chunking", "embedding", "ready"]
    assert reload(document).stages["graph"]["state"] == "skipped"
    progress = [value for _, value in seen]
    assert progress == sorted(progress)
    assert progress[0] == 5 and progress[-1] == 100


class Counting:
    """Wraps a provider; records the size of every batch it is given."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []
        self.name, self.dimensions = inner.name, inner.dimensions

    def embed(self, texts):
        self.batches.append(len(texts))
        return self.inner.embed(texts)


def test_small_documents_are_embedded_together_and_billed_each_their_own(
    tenant_a, tenant_b, settings, django_capture_on_commit_callbacks
):
    from billing.models import UsageEvent
    from billing.services import usage_events_flush

    settings.ATRIUM_EMBEDDING_BATCH_SIZE = 32
    documents = [
        upload(
            tenant_a.workspace, f"n{n}.md", f"# Note {n}\n\nBody {n}.".encode()
        ).document
        for n in range(3)
    ]
    foreign = upload(tenant_b.workspace, "f.md", b"# Foreign\n\nNot theirs.").document
    for document in [*documents, foreign]:
        pipeline.document_ingest_run(
            workspace_id=document.workspace_id, document_id=document.pk
        )
    provider = Counting(get_provider())

    with django_capture_on_commit_callbacks(execute=True):
        first = pipeline.document_embed_run(
            workspace_id=tenant_a.workspace.pk,
            document_id=documents[0].pk,
            provider=provider,
        )
        later = pipeline.document_embed_run(
            workspace_id=tenant_a.workspace.pk,
            document_id=documents[1].pk,
            provider=provider,
        )
    usage_events_flush()

    # One call embedded the three documents' chunks, and only theirs.
    total = sum(reload(d).chunk_count for d in documents)
    assert provider.batches == [total]
    assert first["state"] == DocumentStatus.READY
    assert [reload(d).status for d in documents] == [DocumentStatus.READY] * 3
    assert later["state"] == DocumentStatus.READY and later["chunks"] == 0
    assert reload(foreign).status == DocumentStatus.EMBEDDING
    assert all(c.embedding is None for c in chunks_of(foreign))
    with as_workspace(tenant_a.workspace.pk):
        billed = sorted(
            e.input_tokens
            for e in UsageEvent.objects.filter(workspace=tenant_a.workspace)
        )
    per_document = sorted(sum(c.token_count for c in chunks_of(d)) for d in documents)
    # One event per document with its own tokens: the batch is billed once.
    assert billed == per_document and all(per_document)
    assert first["tokens"] == sum(c.token_count for c in chunks_of(documents[0]))
