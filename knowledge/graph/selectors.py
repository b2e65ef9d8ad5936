"""Reads of one workspace's knowledge graph, for search and agents' tools.

Each takes the workspace and asks only its graph group. A fact is returned
only if one of its source documents is visible, in the caller's tenant
context, as a document of that workspace: facts of deleted documents (whose
removal from the graph failed) never surface, and a fact could not cross
tenants even if the graph held it in the wrong group. Call these inside the
caller's context (a request, or ``as_workspace`` in a task).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphiti_core.edges import EntityEdge
from graphiti_core.search.search_filters import (
    ComparisonOperator,
    DateFilter,
    SearchFilters,
)

from knowledge.graph.backend import WorkspaceGraph, backend, run, workspace_graph
from knowledge.graph.names import entity_name_clean, entity_name_valid
from knowledge.graph.services import episode_source
from knowledge.models import Document
from tenancy.models import Workspace

MAX_LIMIT = 100


@dataclass(frozen=True)
class GraphFact:
    """One fact of the graph and where it was read.

    ``valid_at``/``invalid_at`` bound when the fact held (``None``: unknown
    start / still holds); ``score`` is the search relevance in 0-1 (``None``
    outside search).
    """

    fact_id: str
    fact: str
    relation: str
    source_entity: str
    target_entity: str
    valid_at: datetime | None
    invalid_at: datetime | None
    episode_id: str
    document_id: uuid.UUID
    chunk_id: uuid.UUID | None
    score: float | None = None

    def holds_at(self, when: datetime) -> bool:
        """Whether the fact held at ``when``."""
        started = self.valid_at is None or self.valid_at <= when
        return started and (self.invalid_at is None or when < self.invalid_at)


@dataclass(frozen=True)
class EntityFacts:
    """An entity as the workspace's graph knows it, with its facts."""

    entity: str
    facts: list[GraphFact]


def _when(value: Any) -> datetime | None:
    """A graph timestamp as an aware datetime (FalkorDB stores ISO strings)."""
    if value is None or value == "":
        return None
    if hasattr(value, "to_native"):
        value = value.to_native()
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _as_of_filter(as_of: datetime) -> SearchFilters:
    return SearchFilters(
        valid_at=[
            [
                DateFilter(
                    date=as_of, comparison_operator=ComparisonOperator.less_than_equal
                )
            ],
            [DateFilter(comparison_operator=ComparisonOperator.is_null)],
        ],
        invalid_at=[
            [
                DateFilter(
                    date=as_of, comparison_operator=ComparisonOperator.greater_than
                )
            ],
            [DateFilter(comparison_operator=ComparisonOperator.is_null)],
        ],
    )


@dataclass(frozen=True)
class _Edge:
    uuid: str
    fact: str
    relation: str
    source_uuid: str
    target_uuid: str
    valid_at: datetime | None
    invalid_at: datetime | None
    episodes: list[str]
    score: float | None


def _from_entity_edge(edge: EntityEdge, score: float | None) -> _Edge:
    return _Edge(
        uuid=edge.uuid,
        fact=edge.fact,
        relation=edge.name,
        source_uuid=edge.source_node_uuid,
        target_uuid=edge.target_node_uuid,
        valid_at=_when(edge.valid_at),
        invalid_at=_when(edge.invalid_at),
        episodes=list(edge.episodes),
        score=score,
    )


async def _cited(
    graph: WorkspaceGraph, edges: list[_Edge]
) -> list[tuple[_Edge, dict[str, Any]]]:
    """Attach entity names and episode names to edges, in one query each."""
    node_uuids = sorted({u for e in edges for u in (e.source_uuid, e.target_uuid)})
    episode_uuids = sorted({u for e in edges for u in e.episodes})
    names = {
        row["uuid"]: row["name"]
        for row in await graph.query(
            "MATCH (n:Entity) WHERE n.group_id = $group_id AND n.uuid IN $uuids"
            " RETURN n.uuid AS uuid, n.name AS name",
            uuids=node_uuids,
        )
    }
    episodes = {
        row["uuid"]: row["name"]
        for row in await graph.query(
            "MATCH (e:Episodic) WHERE e.group_id = $group_id AND e.uuid IN $uuids"
            " RETURN e.uuid AS uuid, e.name AS name",
            uuids=episode_uuids,
        )
    }
    return [
        (edge, {"names": names, "episodes": episodes})
        for edge in edges
        if edge.source_uuid in names and edge.target_uuid in names
    ]


def _citations(episode_name: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    document, _, chunk = episode_name.partition(":")
    try:
        return uuid.UUID(document), uuid.UUID(chunk) if chunk else None
    except ValueError:
        return None


def _facts(
    workspace: Workspace, cited: list[tuple[_Edge, dict[str, Any]]]
) -> list[GraphFact]:
    """Build results, keeping each fact's first source visible in Postgres."""
    candidates: list[
        tuple[_Edge, dict[str, Any], list[tuple[str, uuid.UUID, uuid.UUID | None]]]
    ] = []
    document_ids: set[uuid.UUID] = set()
    for edge, lookups in cited:
        sources = []
        for episode in edge.episodes:
            parsed = _citations(lookups["episodes"].get(episode, ""))
            if parsed is not None:
                sources.append((episode, *parsed))
                document_ids.add(parsed[0])
        candidates.append((edge, lookups, sources))
    visible = set(
        Document.objects.filter(
            workspace_id=workspace.id, id__in=document_ids
        ).values_list("id", flat=True)
    )
    facts = []
    for edge, lookups, sources in candidates:
        source = next((s for s in sources if s[1] in visible), None)
        if source is None:
            continue
        facts.append(
            GraphFact(
                fact_id=edge.uuid,
                fact=edge.fact,
                relation=edge.relation,
                source_entity=lookups["names"][edge.source_uuid],
                target_entity=lookups["names"][edge.target_uuid],
                valid_at=edge.valid_at,
                invalid_at=edge.invalid_at,
                episode_id=source[0],
                document_id=source[1],
                chunk_id=source[2],
                score=edge.score,
            )
        )
    return facts


def graph_search(
    workspace: Workspace, query: str, limit: int = 10, as_of: datetime | None = None
) -> list[GraphFact]:
    """Facts of the workspace's graph relevant to ``query``, best first.

    With ``as_of``, only facts that held at that time (valid from before it,
    not invalidated by then). Empty when the graph is off.
    """
    query = query.strip()
    limit = max(1, min(int(limit), MAX_LIMIT))
    if not query or backend() == "off":
        return []
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    search_filter = _as_of_filter(as_of) if as_of is not None else SearchFilters()

    async def work() -> list[tuple[_Edge, dict[str, Any]]]:
        async with workspace_graph(workspace) as graph:
            scored = await graph.search(
                query, limit=min(limit * 3, MAX_LIMIT), search_filter=search_filter
            )
            edges = [_from_entity_edge(edge, score) for edge, score in scored]
            return await _cited(graph, edges)

    facts = _facts(workspace, run(work))
    if as_of is not None:
        facts = [f for f in facts if f.holds_at(as_of)]
    return facts[:limit]


async def _entity_edges(graph: WorkspaceGraph, name: str, limit: int) -> list[_Edge]:
    rows = await graph.query(
        "MATCH (a:Entity)-[r:RELATES_TO]->(b:Entity)"
        " WHERE r.group_id = $group_id AND a.group_id = $group_id"
        " AND b.group_id = $group_id"
        " AND (toLower(a.name) = $name OR toLower(b.name) = $name)"
        " RETURN r.uuid AS uuid, r.fact AS fact, r.name AS relation,"
        " a.uuid AS source, b.uuid AS target, r.valid_at AS valid_at,"
        " r.invalid_at AS invalid_at, r.episodes AS episodes"
        " LIMIT $limit",
        name=name.lower(),
        limit=limit,
    )
    return [
        _Edge(
            uuid=row["uuid"],
            fact=row["fact"],
            relation=row["relation"],
            source_uuid=row["source"],
            target_uuid=row["target"],
            valid_at=_when(row["valid_at"]),
            invalid_at=_when(row["invalid_at"]),
            episodes=list(row["episodes"] or []),
            score=None,
        )
        for row in rows
    ]


def _entity_facts(workspace: Workspace, entity_name: str, limit: int) -> EntityFacts:
    name = entity_name_clean(entity_name)
    if not entity_name_valid(name) or backend() == "off":
        return EntityFacts(entity=name, facts=[])

    async def work() -> list[tuple[_Edge, dict[str, Any]]]:
        async with workspace_graph(workspace) as graph:
            return await _cited(graph, await _entity_edges(graph, name, limit))

    facts = _facts(workspace, run(work))
    for fact in facts:
        if fact.source_entity.lower() == name.lower():
            name = fact.source_entity
            break
        if fact.target_entity.lower() == name.lower():
            name = fact.target_entity
            break
    return EntityFacts(entity=name, facts=facts)


def entity_relationships(
    workspace: Workspace, entity_name: str, limit: int = 50
) -> EntityFacts:
    """Every fact linking the named entity (case-insensitive) to another."""
    result = _entity_facts(workspace, entity_name, max(1, min(limit, 500)))
    ordered = sorted(result.facts, key=lambda f: (f.relation, f.fact))
    return EntityFacts(entity=result.entity, facts=ordered)


def entity_timeline(
    workspace: Workspace, entity_name: str, limit: int = 200
) -> EntityFacts:
    """The named entity's facts in the order they became true.

    Facts with no known start come first; each carries when it stopped
    holding, if it did.
    """
    result = _entity_facts(workspace, entity_name, max(1, min(limit, 500)))
    oldest = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(result.facts, key=lambda f: (f.valid_at or oldest, f.fact))
    return EntityFacts(entity=result.entity, facts=ordered)


async def _document_edges(
    graph: WorkspaceGraph, document_id: uuid.UUID, limit: int
) -> list[_Edge]:
    """Facts citing the document's episodes, its own episodes listed first."""
    episodes = {
        row["uuid"]
        for row in await graph.query(
            "MATCH (e:Episodic) WHERE e.group_id = $group_id"
            " AND e.source_description = $source RETURN e.uuid AS uuid",
            source=episode_source(document_id),
        )
    }
    if not episodes:
        return []
    rows = await graph.query(
        "MATCH (a:Entity)-[r:RELATES_TO]->(b:Entity)"
        " WHERE r.group_id = $group_id AND a.group_id = $group_id"
        " AND b.group_id = $group_id"
        " AND any(x IN r.episodes WHERE x IN $episodes)"
        " RETURN r.uuid AS uuid, r.fact AS fact, r.name AS relation,"
        " a.uuid AS source, b.uuid AS target, r.valid_at AS valid_at,"
        " r.invalid_at AS invalid_at, r.episodes AS episodes"
        " ORDER BY r.created_at, r.uuid LIMIT $limit",
        episodes=sorted(episodes),
        limit=limit,
    )
    return [
        _Edge(
            uuid=row["uuid"],
            fact=row["fact"],
            relation=row["relation"],
            source_uuid=row["source"],
            target_uuid=row["target"],
            valid_at=_when(row["valid_at"]),
            invalid_at=_when(row["invalid_at"]),
            # The document's own episode first, so the fact cites its chunk.
            episodes=sorted(row["episodes"] or [], key=lambda e: e not in episodes),
            score=None,
        )
        for row in rows
    ]


def document_facts(
    workspace: Workspace, document_id: uuid.UUID, limit: int = 100
) -> list[GraphFact]:
    """The facts the graph holds from one document, in the order they were added.

    A fact other documents state as well is listed once, citing this
    document's chunk. Empty when the graph is off or the document is not one
    of the workspace's (in the caller's tenant context).
    """
    if backend() == "off":
        return []
    limit = max(1, min(int(limit), MAX_LIMIT))

    async def work() -> list[tuple[_Edge, dict[str, Any]]]:
        async with workspace_graph(workspace) as graph:
            edges = await _document_edges(graph, document_id, limit)
            return await _cited(graph, edges)

    return [f for f in _facts(workspace, run(work)) if f.document_id == document_id]
