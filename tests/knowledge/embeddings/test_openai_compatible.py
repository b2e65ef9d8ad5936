"""The OpenAI-compatible provider through the official SDK, against a local
server speaking /v1/embeddings: success, 429, errors, and the pipeline."""

import socket

import pytest

from knowledge import tasks
from knowledge.embeddings import EmbeddingError
from knowledge.embeddings.base import _provider, get_provider
from knowledge.embeddings.openai_compatible import OpenAICompatibleProvider
from knowledge.ingestion import pipeline
from knowledge.models import Chunk, DocumentStatus
from tenancy.context import as_workspace
from tests.knowledge import corpus
from tests.knowledge.conftest import ingest, reload, upload
from tests.knowledge.embeddings.server import embedding_server, vector_for

API_KEY = "test-key-not-a-secret"


def provider_for(server, *, max_retries=0, dimensions=384):
    return OpenAICompatibleProvider(
        model="text-embedding-3-small",
        base_url=server.url,
        api_key=API_KEY,
        dimensions=dimensions,
        timeout=5,
        max_retries=max_retries,
    )


def test_embeds_in_input_order_and_reports_usage():
    with embedding_server() as server:
        batch = provider_for(server).embed(["alpha beta", "gamma"])

    assert batch.vectors == [vector_for("alpha beta", 384), vector_for("gamma", 384)]
    assert batch.tokens == 3
    assert batch.token_counts is None
    (request,) = server.requests
    assert request["path"] == "/v1/embeddings"
    assert request["authorization"] == f"Bearer {API_KEY}"
    assert request["body"]["model"] == "text-embedding-3-small"
    assert request["body"]["input"] == ["alpha beta", "gamma"]


def test_the_sdk_retries_a_429_then_succeeds():
    with embedding_server(failures=[429]) as server:
        batch = provider_for(server, max_retries=2).embed(["one"])

    assert len(server.requests) == 2
    assert batch.vectors == [vector_for("one", 384)]


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, "rate_limited", True),
        (503, "provider_error", True),
        (400, "provider_error", False),
    ],
)
def test_failures_become_typed_errors_without_the_body_or_key(status, code, retryable):
    with embedding_server(failures=[status]) as server:
        with pytest.raises(EmbeddingError) as failed:
            provider_for(server).embed(["one"])

    assert failed.value.code == code
    assert failed.value.retryable is retryable
    assert "sk-leaky-secret" not in str(failed.value)
    assert API_KEY not in str(failed.value)


def test_wrong_dimensions_are_refused():
    with embedding_server(dimensions=8) as server:
        with pytest.raises(EmbeddingError) as failed:
            provider_for(server).embed(["one"])

    assert failed.value.code == "dimension_mismatch"
    assert failed.value.retryable is False


def test_an_unreachable_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAICompatibleProvider(
        model="m",
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key="",
        dimensions=384,
        timeout=2,
        max_retries=0,
    )

    with pytest.raises(EmbeddingError) as failed:
        provider.embed(["one"])

    assert failed.value.code == "provider_unavailable"
    assert failed.value.retryable is True


@pytest.fixture
def openai_settings(settings):
    _provider.cache_clear()
    yield settings
    _provider.cache_clear()


@pytest.mark.django_db
def test_the_pipeline_embeds_through_the_configured_server(tenant_a, openai_settings):
    with embedding_server() as server:
        openai_settings.ATRIUM_EMBEDDING_PROVIDER = "openai"
        openai_settings.ATRIUM_EMBEDDING_BASE_URL = server.url
        openai_settings.ATRIUM_EMBEDDING_MODEL = "text-embedding-3-small"
        document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document
        result = ingest(document)

    with as_workspace(tenant_a.workspace.pk):
        chunks = list(Chunk.objects.filter(document_id=document.pk))
    assert reload(document).status == DocumentStatus.READY
    assert {c.embedding_model for c in chunks} == {"openai:text-embedding-3-small"}
    assert list(chunks[0].embedding) == pytest.approx(
        vector_for(chunks[0].content, 384)
    )
    assert result["tokens"] == sum(len(c.content.split()) for c in chunks)
    assert get_provider().name == "openai:text-embedding-3-small"


@pytest.mark.django_db
def test_the_embed_task_retries_503s_then_succeeds(tenant_a, openai_settings):
    with embedding_server(failures=[503, 503, 503]) as server:
        openai_settings.ATRIUM_EMBEDDING_PROVIDER = "openai"
        openai_settings.ATRIUM_EMBEDDING_BASE_URL = server.url
        openai_settings.ATRIUM_EMBEDDING_MAX_RETRIES = 0
        document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document
        pipeline.document_ingest_run(
            workspace_id=tenant_a.workspace.pk, document_id=document.pk
        )
        # Eager: Celery reruns the task in place on retry, skipping the wait.
        outcome = tasks.embed_document.apply(
            args=(str(tenant_a.workspace.pk), str(document.pk))
        )

    assert outcome.get()["state"] == "ready"
    assert len(server.requests) == 4  # three 503s, then the success
    document = reload(document)
    assert document.status == DocumentStatus.READY
    assert document.attempts == 0


@pytest.mark.django_db
def test_the_embed_task_gives_up_on_a_permanent_error(tenant_a, openai_settings):
    with embedding_server(failures=[400]) as server:
        openai_settings.ATRIUM_EMBEDDING_PROVIDER = "openai"
        openai_settings.ATRIUM_EMBEDDING_BASE_URL = server.url
        openai_settings.ATRIUM_EMBEDDING_MAX_RETRIES = 0
        document = upload(tenant_a.workspace, "h.md", corpus.MARKDOWN).document
        pipeline.document_ingest_run(
            workspace_id=tenant_a.workspace.pk, document_id=document.pk
        )
        outcome = tasks.embed_document.apply(
            args=(str(tenant_a.workspace.pk), str(document.pk))
        )

    assert outcome.get() == {
        "document_id": str(document.pk),
        "state": "failed",
        "code": "provider_error",
    }
    document = reload(document)
    assert document.status == DocumentStatus.FAILED
    assert document.stages["embedding"]["code"] == "embedding_failed"
    assert "HTTP 400" in document.error
    assert len(server.requests) == 1
