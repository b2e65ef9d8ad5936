"""Cross-tenant canaries: one workspace's facts never reach another's."""

import uuid

import pytest
import redis
from graphiti_core.graphiti import Graphiti

from knowledge.graph import entity_relationships, entity_timeline, graph_search
from knowledge.graph.backend import run, workspace_graph
from tests.knowledge.graph.conftest import entity_names, in_context, ingest_text

pytestmark = pytest.mark.django_db

CANARY = "Quintessa Varga founded Zephyrine Foundry in 2017."
CANARY_QUERY = "Who founded Zephyrine Foundry? Quintessa Varga"


@pytest.fixture
def planted(tenant_a, tenant_b, graph_on):
    ingest_text(tenant_a.workspace, "canary.md", CANARY)
    ingest_text(tenant_b.workspace, "other.md", "Orlo Pym runs Brindle Mills.")
    return tenant_a, tenant_b


def test_a_fact_planted_in_a_never_comes_back_from_b(planted):
    tenant_a, tenant_b = planted

    with in_context(tenant_a.workspace):
        own = graph_search(tenant_a.workspace, CANARY_QUERY)
    with in_context(tenant_b.workspace):
        searched = graph_search(tenant_b.workspace, CANARY_QUERY, limit=100)
        related = entity_relationships(tenant_b.workspace, "Quintessa Varga")
        timeline = entity_timeline(tenant_b.workspace, "Zephyrine Foundry")

    assert own[0].fact == CANARY  # the canary is findable where it lives
    assert all("Zephyrine" not in hit.fact for hit in searched)
    assert related.facts == [] and timeline.facts == []
    assert "Quintessa Varga" not in entity_names(tenant_b.workspace)
    assert {hit.fact for hit in searched} <= {"Orlo Pym runs Brindle Mills."}


def test_each_workspace_is_its_own_falkordb_graph(planted, falkordb_server):
    tenant_a, tenant_b = planted
    server = redis.Redis(host=falkordb_server.host, port=falkordb_server.port)

    graphs = {g.decode() for g in server.execute_command("GRAPH.LIST")}

    assert {
        tenant_a.workspace.graph_group_id,
        tenant_b.workspace.graph_group_id,
    } <= graphs
    foreign = server.execute_command(
        "GRAPH.QUERY",
        tenant_a.workspace.graph_group_id,
        f"MATCH (n) WHERE n.group_id <> '{tenant_a.workspace.graph_group_id}'"
        " RETURN count(n)",
    )
    assert foreign[1][0][0] == 0


def test_another_principal_gets_nothing_even_naming_the_workspace(planted):
    tenant_a, tenant_b = planted

    # B's context cannot see A's documents, so A's facts cite nothing visible.
    with in_context(tenant_b.workspace):
        assert graph_search(tenant_a.workspace, CANARY_QUERY) == []
        assert entity_relationships(tenant_a.workspace, "Quintessa Varga").facts == []


def test_every_search_names_exactly_the_workspace_group(planted, monkeypatch):
    tenant_a, _ = planted
    seen = []
    original = Graphiti.search_

    async def spying(self, query, *args, **kwargs):
        seen.append(kwargs.get("group_ids"))
        return await original(self, query, *args, **kwargs)

    monkeypatch.setattr(Graphiti, "search_", spying)
    with in_context(tenant_a.workspace):
        graph_search(tenant_a.workspace, CANARY_QUERY)

    assert seen == [[tenant_a.workspace.graph_group_id]]


def test_the_workspace_client_refuses_to_leave_its_group(tenant_a, graph_on):
    from graphiti_core.nodes import EntityNode

    async def attempts() -> list[str]:
        refused = []
        async with workspace_graph(tenant_a.workspace) as graph:
            for call in (
                lambda: graph.query("MATCH (n) RETURN n"),
                lambda: graph.query(
                    "MATCH (n) WHERE n.group_id = $group_id RETURN n", group_id="x"
                ),
                lambda: graph.save(
                    EntityNode(name="Foreign Co", group_id="workspace_x")
                ),
            ):
                try:
                    await call()
                except ValueError as error:
                    refused.append(str(error))
        return refused

    assert len(run(attempts)) == 3
    for group in (tenant_a.workspace.graph_group_id, "default_db", uuid.uuid4().hex):
        with pytest.raises(TypeError):
            run(lambda group=group: _open(group))


async def _open(group: object) -> None:
    async with workspace_graph(group):  # type: ignore[arg-type]
        pass
