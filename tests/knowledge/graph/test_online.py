"""With a model provider: Graphiti's own episode extraction, bounded retries.

The provider is a local server speaking OpenAI's chat-completions protocol
(tests/support/graph.py), driven through the official SDK as in production.
"""

import logging
import time
from datetime import UTC, datetime

import pytest

from knowledge.graph import graph_search
from knowledge.graph.backend import extractor
from knowledge.models import DocumentStatus
from tests.knowledge.graph.conftest import entity_names, in_context, ingest_text
from tests.support.graph import SchemaServer

pytestmark = pytest.mark.django_db

KEY = "sk-test-graph-0123456789abcdef"
ENTITIES = {
    "extracted_entities": [
        {"name": "Acme Corp", "entity_type_id": 0},
        {"name": "The", "entity_type_id": 0},
        {"name": "Beta Labs", "entity_type_id": 0},
    ]
}
EDGES = {
    "edges": [
        {
            "source_entity_name": "Acme Corp",
            "target_entity_name": "Beta Labs",
            "relation_type": "ACQUIRED",
            "fact": "Acme Corp acquired Beta Labs in 2019.",
            "valid_at": "2019-01-01T00:00:00Z",
            "invalid_at": None,
        },
        {
            "source_entity_name": "The",
            "target_entity_name": "Beta Labs",
            "relation_type": "IS",
            "fact": "The is Beta Labs.",
            "valid_at": None,
            "invalid_at": None,
        },
    ]
}


@pytest.fixture
def provider(graph_on, settings):
    with SchemaServer() as server:
        settings.ATRIUM_GRAPH_EXTRACTOR = "auto"
        settings.OPENAI_BASE_URL = server.api_url
        settings.OPENAI_API_KEY = KEY
        settings.ATRIUM_GRAPH_LLM_MODEL = "graph-test-model"
        settings.ATRIUM_GRAPH_LLM_RETRY_SECONDS = 0.1
        yield server


def test_a_configured_provider_is_used_and_offline_is_the_default(settings):
    settings.ATRIUM_GRAPH_EXTRACTOR = "auto"
    settings.OPENAI_API_KEY = ""
    assert extractor() == "local"
    settings.OPENAI_API_KEY = KEY
    assert extractor() == "openai"


def test_graphiti_extracts_the_episode_without_stopword_entities(
    tenant_a, provider, caplog
):
    provider.answers = {"ExtractedEntities": ENTITIES, "ExtractedEdges": EDGES}
    caplog.set_level(logging.DEBUG)

    document = ingest_text(
        tenant_a.workspace, "deal.md", "In 2019, Acme Corp acquired Beta Labs."
    )

    assert document.status == DocumentStatus.READY
    assert document.stages["graph"]["extractor"] == "openai"
    assert document.stages["graph"]["episodes"] == 1
    assert provider.asked[:2] == ["ExtractedEntities", "ExtractedEdges"]
    first = provider.requests[0]
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert first.json["model"] == "graph-test-model"
    # "The" never reached the graph, nor the edge prompt's entity list.
    assert entity_names(tenant_a.workspace) == {"Acme Corp", "Beta Labs"}
    assert '"name": "The"' not in provider.requests[1].json["messages"][-1]["content"]
    with in_context(tenant_a.workspace):
        [hit] = graph_search(tenant_a.workspace, "Who acquired Beta Labs?")
    assert hit.fact == "Acme Corp acquired Beta Labs in 2019."
    assert hit.valid_at == datetime(2019, 1, 1, tzinfo=UTC)
    assert hit.document_id == document.id and hit.chunk_id is not None
    assert KEY not in caplog.text and KEY not in str(document.stages)


def test_bad_model_json_fails_the_stage_fast(tenant_a, provider, settings):
    settings.ATRIUM_GRAPH_LLM_MAX_ATTEMPTS = 2
    provider.answers = {"ExtractedEntities": b"{not json"}
    started = time.monotonic()

    document = ingest_text(
        tenant_a.workspace, "deal.md", "Acme Corp acquired Beta Labs."
    )

    assert time.monotonic() - started < 10  # Graphiti alone waits 5-120 s per retry
    assert provider.asked.count("ExtractedEntities") == 2
    assert document.status == DocumentStatus.FAILED
    assert document.stages["graph"]["code"] == "graph_failed"
    assert document.stages["embedding"]["state"] == "done"
    assert KEY not in document.error
