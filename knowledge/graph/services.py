"""Writes to the knowledge graph: extract a document, delete its facts.

Every episode is named ``<document id>:<chunk id>`` and described as
``document:<document id>``, and every fact lists the episodes it came from,
so a fact cites the document and chunk it was read in, and a document's
facts can be found and removed. A fact that several documents state keeps
living while any of them remains.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from graphiti_core.edges import EntityEdge, EpisodicEdge
from graphiti_core.nodes import EntityNode, EpisodeType, EpisodicNode

from knowledge.graph.backend import (
    WorkspaceGraph,
    backend,
    extractor,
    run,
    workspace_graph,
)
from knowledge.graph.budget import budget_reserve
from knowledge.graph.extractor import Triplet, extract_triplets
from knowledge.graph.names import entity_name_valid
from knowledge.models import Chunk, Document
from tenancy.context import as_workspace
from tenancy.models import Workspace

logger = logging.getLogger(__name__)

GRAPH_OFF = {"state": "skipped", "reason": "no graph backend configured"}


def episode_name(document_id: uuid.UUID | str, chunk_id: uuid.UUID | str) -> str:
    return f"{document_id}:{chunk_id}"


def episode_source(document_id: uuid.UUID | str) -> str:
    return f"document:{document_id}"


@dataclass(frozen=True)
class _Source:
    workspace: Workspace
    workspace_settings: dict[str, Any]
    reference_time: datetime
    chunks: list[tuple[uuid.UUID, str]]


@dataclass
class _Written:
    episodes: int = 0
    facts: int = 0
    entities: set[str] = field(default_factory=set)


def _source(workspace_id: uuid.UUID, document_id: uuid.UUID) -> _Source | None:
    with as_workspace(workspace_id):
        workspace = Workspace.objects.filter(pk=workspace_id).first()
        document = Document.objects.filter(
            workspace_id=workspace_id, pk=document_id
        ).first()
        if workspace is None or document is None:
            return None
        chunks = list(
            Chunk.objects.filter(workspace_id=workspace_id, document_id=document_id)
            .order_by("chunk_index")
            .values_list("id", "content")
        )
        return _Source(
            workspace=workspace,
            workspace_settings=dict(workspace.settings or {}),
            reference_time=document.created_at,
            chunks=chunks,
        )


def graph_enabled() -> bool:
    """Whether a graph backend is configured (the pipeline's graph stage)."""
    return backend() != "off"


def extract_document(
    *, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> dict[str, Any] | None:
    """Build the document's part of its workspace graph (the graph stage).

    Called by the ingestion pipeline after the chunks are embedded, outside
    any transaction. Replaces whatever the document had put in the graph
    before, so reruns and re-ingestion never duplicate facts. Raises
    ``IngestionError("graph_budget_exceeded")`` past the workspace's budget.
    """
    if backend() == "off":
        return dict(GRAPH_OFF)
    source = _source(workspace_id, document_id)
    if source is None:
        return {"state": "skipped", "reason": "document deleted"}
    budget_reserve(
        workspace_id=workspace_id,
        episodes=len(source.chunks),
        workspace_settings=source.workspace_settings,
    )
    kind = extractor()

    async def work() -> _Written:
        async with workspace_graph(source.workspace) as graph:
            await _document_remove(graph, document_id)
            if kind == "openai":
                return await _extract_with_model(graph, document_id, source)
            return await _extract_offline(graph, document_id, source)

    written = run(work)
    logger.info(
        "graph of document %s in workspace %s: %s episodes, %s facts (%s)",
        document_id,
        workspace_id,
        written.episodes,
        written.facts,
        kind,
    )
    return {
        "backend": backend(),
        "extractor": kind,
        "episodes": written.episodes,
        "facts": written.facts,
        "entities": len(written.entities),
    }


async def _extract_with_model(
    graph: WorkspaceGraph, document_id: uuid.UUID, source: _Source
) -> _Written:
    written = _Written()
    for chunk_id, content in source.chunks:
        result = await graph.add_episode(
            name=episode_name(document_id, chunk_id),
            body=content,
            source_description=episode_source(document_id),
            reference_time=source.reference_time,
        )
        written.episodes += 1
        written.facts += len(result.edges)
        written.entities.update(node.uuid for node in result.nodes)
    return written


async def _entity(
    graph: WorkspaceGraph, name: str, known: dict[str, EntityNode]
) -> EntityNode:
    """The workspace's entity of that name (case-insensitive), made if new.

    Resolving names here, before ``add_triplet``, keeps Graphiti's
    model-based node deduplication out of the offline path.
    """
    key = name.lower()
    if key in known:
        return known[key]
    rows = await graph.query(
        "MATCH (n:Entity) WHERE n.group_id = $group_id AND toLower(n.name) = $name"
        " RETURN n.uuid AS uuid LIMIT 1",
        name=key,
    )
    if rows:
        node = await EntityNode.get_by_uuid(graph.driver, rows[0]["uuid"])
    else:
        node = EntityNode(name=name, group_id=graph.group_id, labels=["Entity"])
        await node.generate_name_embedding(graph.graphiti.embedder)
        await graph.save(node)
    known[key] = node
    return node


async def _extract_offline(
    graph: WorkspaceGraph, document_id: uuid.UUID, source: _Source
) -> _Written:
    written = _Written()
    known: dict[str, EntityNode] = {}
    for chunk_id, content in source.chunks:
        triplets = [
            t
            for t in extract_triplets(content)
            if entity_name_valid(t.source) and entity_name_valid(t.target)
        ]
        if not triplets:
            continue
        episode = EpisodicNode(
            name=episode_name(document_id, chunk_id),
            group_id=graph.group_id,
            source=EpisodeType.text,
            source_description=episode_source(document_id),
            content=content,
            valid_at=source.reference_time,
        )
        await graph.save(episode)
        mentioned: dict[str, EntityNode] = {}
        for triplet in triplets:
            edge = await _write_triplet(graph, triplet, episode, source, known)
            episode.entity_edges.append(edge.uuid)
            for key in (triplet.source.lower(), triplet.target.lower()):
                mentioned[key] = known[key]
            written.facts += 1
        await graph.save(episode)
        for node in mentioned.values():
            await graph.save(
                EpisodicEdge(
                    source_node_uuid=episode.uuid,
                    target_node_uuid=node.uuid,
                    group_id=graph.group_id,
                    created_at=timezone.now(),
                )
            )
            written.entities.add(node.uuid)
        written.episodes += 1
    return written


async def _write_triplet(
    graph: WorkspaceGraph,
    triplet: Triplet,
    episode: EpisodicNode,
    source: _Source,
    known: dict[str, EntityNode],
) -> EntityEdge:
    subject = await _entity(graph, triplet.source, known)
    target = await _entity(graph, triplet.target, known)
    edge = EntityEdge(
        group_id=graph.group_id,
        source_node_uuid=subject.uuid,
        target_node_uuid=target.uuid,
        name=triplet.relation,
        fact=triplet.fact,
        episodes=[episode.uuid],
        created_at=timezone.now(),
        valid_at=triplet.valid_at
        or (None if triplet.invalid_at else source.reference_time),
        invalid_at=triplet.invalid_at,
        reference_time=source.reference_time,
    )
    result = await graph.add_triplet(subject, edge, target, episode)
    return result.edges[0]


async def _document_remove(graph: WorkspaceGraph, document_id: uuid.UUID) -> int:
    """Remove the document's episodes and the facts only they support."""
    episodes = [
        row["uuid"]
        for row in await graph.query(
            "MATCH (e:Episodic) WHERE e.group_id = $group_id"
            " AND e.source_description = $source RETURN e.uuid AS uuid",
            source=episode_source(document_id),
        )
    ]
    if not episodes:
        return 0
    edges = await graph.query(
        "MATCH (a:Entity)-[r:RELATES_TO]->(b:Entity)"
        " WHERE r.group_id = $group_id AND any(x IN r.episodes WHERE x IN $episodes)"
        " RETURN r.uuid AS uuid, r.episodes AS episodes,"
        " a.uuid AS source, b.uuid AS target",
        episodes=episodes,
    )
    touched: set[str] = set()
    for row in edges:
        touched.update((row["source"], row["target"]))
        remaining = [e for e in row["episodes"] or [] if e not in episodes]
        if remaining:
            await graph.query(
                "MATCH ()-[r:RELATES_TO {uuid: $uuid}]->()"
                " WHERE r.group_id = $group_id SET r.episodes = $remaining",
                uuid=row["uuid"],
                remaining=remaining,
            )
        else:
            await graph.query(
                "MATCH ()-[r:RELATES_TO {uuid: $uuid}]->()"
                " WHERE r.group_id = $group_id DELETE r",
                uuid=row["uuid"],
            )
    mentioned = await graph.query(
        "MATCH (e:Episodic)-[:MENTIONS]->(n:Entity) WHERE e.group_id = $group_id"
        " AND e.uuid IN $episodes RETURN DISTINCT n.uuid AS uuid",
        episodes=episodes,
    )
    touched.update(row["uuid"] for row in mentioned)
    await graph.query(
        "MATCH (e:Episodic) WHERE e.group_id = $group_id AND e.uuid IN $episodes"
        " DETACH DELETE e",
        episodes=episodes,
    )
    if touched:
        await graph.query(
            "MATCH (n:Entity) WHERE n.group_id = $group_id AND n.uuid IN $uuids"
            " OPTIONAL MATCH (n)-[r]-() WITH n, count(r) AS degree"
            " WHERE degree = 0 DETACH DELETE n",
            uuids=sorted(touched),
        )
    return len(episodes)


def delete_document(*, workspace_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Remove a deleted document's episodes and facts from its workspace graph.

    Called by ``document_delete`` after its transaction commits. The graph
    group is derived from the workspace id (the workspace row may be going
    too). A failure is logged, not raised: the deletion has committed, and
    graph search drops facts whose documents no longer exist.
    """
    if backend() == "off":
        return
    # The row may be gone with its workspace; the group follows from the id.
    workspace = Workspace(id=workspace_id)

    async def work() -> int:
        async with workspace_graph(workspace) as graph:
            return await _document_remove(graph, document_id)

    try:
        removed = run(work)
    # The caller's transaction has committed; an unreachable graph must not
    # turn a successful deletion into an error. Search filters such facts.
    except Exception:
        logger.exception(
            "graph facts of deleted document %s in workspace %s not removed",
            document_id,
            workspace_id,
        )
        return
    logger.info(
        "removed %s graph episodes of deleted document %s in workspace %s",
        removed,
        document_id,
        workspace_id,
    )
