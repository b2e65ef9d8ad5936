"""Search's graph and hybrid kinds, against the real FalkorDB graph."""

import pytest

from knowledge.search import SearchRequest, search
from tests.knowledge.graph.conftest import in_context, ingest_text

pytestmark = pytest.mark.django_db

CANARY = "Quintessa Varga founded Zephyrine Foundry in 2017."


@pytest.fixture
def planted(tenant_a, tenant_b, graph_on):  # type: ignore[no-untyped-def]
    a = ingest_text(tenant_a.workspace, "canary.md", CANARY)
    ingest_text(tenant_b.workspace, "other.md", "Orlo Pym runs Brindle Mills.")
    return tenant_a, tenant_b, a


def test_graph_search_returns_the_fact_with_its_source(planted):
    tenant_a, _b, document = planted
    with in_context(tenant_a.workspace):
        hits = search(
            tenant_a.workspace,
            SearchRequest(query="Who founded Zephyrine Foundry?", search_type="graph"),
        ).hits
    assert hits[0].kind == "fact" and hits[0].content == CANARY
    assert hits[0].document_id == document.pk and hits[0].fact["source_entity"]


def test_hybrid_fuses_graph_facts_in_and_never_across_workspaces(planted):
    tenant_a, tenant_b, _document = planted
    request = SearchRequest(query="Zephyrine Foundry founder", search_type="hybrid")
    with in_context(tenant_a.workspace):
        own = search(tenant_a.workspace, request).hits
    with in_context(tenant_b.workspace):
        foreign = search(tenant_b.workspace, request).hits

    assert any(hit.kind == "fact" and "graph" in hit.ranks for hit in own)
    assert all("Zephyrine" not in hit.content for hit in foreign)
