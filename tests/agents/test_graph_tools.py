"""The graph tools and a graph-only agent, against a real FalkorDB server."""

from __future__ import annotations

import pytest

from agents.tools import toolset_build
from tenancy.context import as_workspace
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import chat, key_for
from tests.support.graph import falkordb_server, graph_on

__all__ = ["falkordb_server", "graph_on"]

pytestmark = pytest.mark.django_db

HISTORY = """# Acme history

In 2019, Acme Corp acquired Beta Labs. The deal closed in Lisbon.

## Leadership

Bob Stone led Acme Corp until 2021. Maria Silva leads Acme Corp since 2021.
"""

GRAPH_TOOLS = ["graph_search", "get_entity_relationships", "get_entity_timeline"]


@pytest.fixture
def history(tenant_a, graph_on):  # type: ignore[no-untyped-def]
    document = stock(tenant_a.workspace, {"history.md": HISTORY})["history.md"]
    agent = make_agent(tenant_a.workspace, "graph", enabled_tools=GRAPH_TOOLS)
    return tenant_a, document, agent


def run(agent, name, arguments):  # type: ignore[no-untyped-def]
    with as_workspace(agent.workspace_id):
        return toolset_build(agent=agent).run(name, arguments)


def test_graph_search_returns_facts_citing_their_chunk(history) -> None:  # type: ignore[no-untyped-def]
    _tenant, document, agent = history

    result = run(agent, "graph_search", {"query": "Who acquired Beta Labs?"})

    assert not result.is_error, result.error
    top = result.sources[0]
    assert top.kind == "fact"
    assert top.content == "In 2019, Acme Corp acquired Beta Labs."
    assert top.document_id == str(document.pk)
    assert top.chunk_id and top.fact_id
    assert top.citation()["type"] == "fact"


def test_entity_tools_return_relationships_and_a_timeline(history) -> None:  # type: ignore[no-untyped-def]
    _tenant, _document, agent = history

    related = run(agent, "get_entity_relationships", {"entity": "acme corp"})
    timeline = run(agent, "get_entity_timeline", {"entity": "Acme Corp"})

    assert related.data["entity"] == "Acme Corp"
    assert {s.content for s in related.sources} >= {
        "In 2019, Acme Corp acquired Beta Labs."
    }
    details = timeline.data["details"]
    starts = [details[s.fact_id]["source_entity"] for s in timeline.sources]
    assert starts == ["Bob Stone", "Acme Corp", "Maria Silva"]


def test_a_graph_agent_answers_from_facts_and_cites_them(history) -> None:  # type: ignore[no-untyped-def]
    tenant, document, agent = history

    body = chat(
        key_for(tenant), tenant.workspace, agent, "Who acquired Beta Labs?"
    ).json()

    assert body["tools_used"] == ["graph_search"]
    assert "Acme Corp acquired Beta Labs" in body["response"]
    assert body["citations"][0]["type"] == "fact"
    assert body["citations"][0]["document_id"] == str(document.pk)


def test_another_workspace_gets_none_of_the_facts(history, tenant_b) -> None:  # type: ignore[no-untyped-def]
    foreign = make_agent(tenant_b.workspace, "foreign", enabled_tools=GRAPH_TOOLS)

    found = run(foreign, "graph_search", {"query": "Who acquired Beta Labs?"})
    related = run(foreign, "get_entity_relationships", {"entity": "Acme Corp"})

    assert found.sources == []
    assert related.sources == []
