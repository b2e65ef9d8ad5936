"""Search requests, hits, and the four kinds of search."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from knowledge.embeddings import get_provider
from knowledge.search import graph as graph_search
from knowledge.search.indexes import index_name
from tenancy.models import Workspace

logger = logging.getLogger(__name__)

SEARCH_TYPES = ("vector", "text", "hybrid", "graph")
RRF_K = 60
# How many candidates each ranking contributes to a hybrid fusion.
CANDIDATES_PER_RESULT = 4
MIN_CANDIDATES = 40


@dataclass(frozen=True)
class SearchFilters:
    document_ids: tuple[uuid.UUID, ...] = ()
    # Chunk or document metadata must contain these key/value pairs.
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.document_ids or self.metadata)


@dataclass(frozen=True)
class SearchRequest:
    query: str
    search_type: str = "hybrid"
    limit: int = 10
    filters: SearchFilters = field(default_factory=SearchFilters)
    # Hybrid: "rrf" (Reciprocal Rank Fusion) or "weighted" (score blend).
    fusion: str = "rrf"
    weights: dict[str, float] = field(
        default_factory=lambda: {"vector": 1.0, "text": 1.0, "graph": 1.0}
    )
    text_weight: float = 0.3  # the weighted blend's share of the text score
    as_of: datetime | None = None


@dataclass
class Hit:
    kind: str  # "chunk" or "fact"
    score: float
    chunk_id: uuid.UUID | None = None
    document_id: uuid.UUID | None = None
    document_title: str = ""
    content: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    # The parts of the score: vector similarity, text rank, fused ranks.
    scores: dict[str, float] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    fact: dict[str, Any] | None = None


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    search_type: str
    embedding_tokens: int = 0
    embedding_model: str = ""
    # Parts of a hybrid search left out because their backend was down.
    degraded: tuple[str, ...] = ()


def _dimensions() -> int:
    return int(settings.ATRIUM_EMBEDDING_DIMENSIONS)


# A hit's document title, read by primary key for each row the query
# returns. PostgreSQL evaluates a sub-select in the select list after the
# sort and limit, so a search reads at most ``limit`` documents, whatever
# the workspace's size, and the plan has no join for the planner to choose
# differently under row-level security.
_TITLE_SQL = (
    "(SELECT d.title FROM documents d"
    " WHERE d.id = c.document_id AND d.workspace_id = c.workspace_id)"
)


def _filters_sql(filters: SearchFilters) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.document_ids:
        clauses.append("c.document_id = ANY(%s::uuid[])")
        params.append([str(d) for d in filters.document_ids])
    if filters.metadata:
        clauses.append(
            "(c.metadata @> %s::jsonb OR EXISTS (SELECT FROM documents d"
            " WHERE d.id = c.document_id AND d.workspace_id = c.workspace_id"
            " AND d.metadata @> %s::jsonb))"
        )
        encoded = json.dumps(filters.metadata)
        params += [encoded, encoded]
    return "".join(f" AND {c}" for c in clauses), params


def _rows_to_hits(rows: list[tuple[Any, ...]], score_name: str) -> list[Hit]:
    return [
        Hit(
            kind="chunk",
            chunk_id=chunk_id,
            document_id=document_id,
            document_title=title or "",
            content=content,
            metadata=metadata or {},
            score=float(score),
            scores={score_name: float(score)},
            ranks={score_name: rank},
        )
        for rank, (chunk_id, document_id, title, content, metadata, score) in enumerate(
            rows, start=1
        )
    ]


def vector_statement(
    workspace: Workspace,
    embedding: list[float],
    limit: int,
    filters: SearchFilters,
) -> tuple[str, list[Any]]:
    """The nearest-chunks query; the distance is its only sort key.

    The ``embedding::vector(n)`` expression and the literal workspace
    condition match the partial HNSW index of a large workspace; a small one
    has no such index and is scanned exactly through the workspace B-tree.
    A tie-breaker would stop the index from providing the order, and every
    row would be sorted instead. The query vector is sent once: the sort key
    is the selected distance.
    """
    dims = _dimensions()
    extra, params = _filters_sql(filters)
    sql = f"""
        SELECT c.id, c.document_id, {_TITLE_SQL}, c.content, c.metadata,
               c.embedding::vector({dims}) <=> %s::vector({dims}) AS distance
        FROM chunks c
        WHERE c.workspace_id = %s AND c.embedding IS NOT NULL{extra}
        ORDER BY distance
        LIMIT %s
    """  # noqa: S608  (only the dimension, an int from settings, is formatted)
    vector = _vector_literal(embedding)
    return sql, [vector, workspace.pk, *params, limit]


# Planner settings for one vector statement. With its own index, a large
# workspace must be searched through it: under row-level security the
# planner misjudges the policy's filter and would sort every row instead
# (measured: 65 ms instead of a few), so sorting is discouraged for this one
# statement and allowed again right after it.
_SETTINGS_SQL = (
    "SELECT set_config('hnsw.ef_search', %s, true),"
    " set_config('hnsw.iterative_scan', %s, true),"
    " set_config('enable_sort',"
    "   CASE WHEN to_regclass(%s) IS NULL THEN 'on' ELSE 'off' END, true)"
)
_RESTORE_SQL = "SELECT set_config('enable_sort', 'on', true)"


def vector_settings_arguments(
    workspace: Workspace, limit: int, filters: SearchFilters
) -> list[Any]:
    return [
        str(max(int(settings.ATRIUM_HNSW_EF_SEARCH), limit * 4)),
        # Filters apply after the index scan: keep scanning until enough
        # rows pass them.
        "relaxed_order" if filters.active else "off",
        f"public.{index_name(workspace.pk)}",
    ]


def vector_script(
    workspace: Workspace,
    embedding: list[float],
    limit: int,
    filters: SearchFilters,
    *,
    explain: bool = False,
) -> tuple[str, list[Any]]:
    """Settings, the vector statement and the restore, sent in one round trip.

    PostgreSQL plans each statement of a simple-protocol script only when it
    reaches it, so the settings before the query shape its plan. Atrium's
    connections bind parameters on the client, which allows the script.
    The statement's rows are the second result set (``script_rows``).
    """
    sql, arguments = vector_statement(workspace, embedding, limit, filters)
    prefix = "EXPLAIN (COSTS OFF) " if explain else ""
    return (
        f"{_SETTINGS_SQL}; {prefix}{sql}; {_RESTORE_SQL}",
        [*vector_settings_arguments(workspace, limit, filters), *arguments],
    )


def script_rows(cursor: Any) -> list[tuple[Any, ...]]:
    """The rows of a ``vector_script``'s statement, after its settings."""
    cursor.nextset()
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _distance_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # Cosine similarity from the distance the index ordered by.
    return [(*row[:5], 1 - float(row[5])) for row in rows]


def vector_hits(
    workspace: Workspace,
    embedding: list[float],
    limit: int,
    filters: SearchFilters = SearchFilters(),
) -> list[Hit]:
    """Nearest chunks by cosine distance, exact or through the HNSW index."""
    script, arguments = vector_script(workspace, embedding, limit, filters)
    with connection.cursor() as cursor:
        cursor.execute(script, arguments)
        rows = script_rows(cursor)
    return _rows_to_hits(_distance_rows(rows), "vector")


def vector_plan(workspace: Workspace, embedding: list[float], limit: int = 10) -> str:
    """The plan PostgreSQL chooses for this workspace's vector search."""
    script, arguments = vector_script(
        workspace, embedding, limit, SearchFilters(), explain=True
    )
    with connection.cursor() as cursor:
        cursor.execute(script, arguments)
        return "\n".join(row[0] for row in script_rows(cursor))


def text_hits(
    workspace: Workspace,
    query: str,
    limit: int,
    filters: SearchFilters = SearchFilters(),
) -> list[Hit]:
    """Full-text matches ranked by ``ts_rank_cd`` (web-search query syntax)."""
    extra, params = _filters_sql(filters)
    sql = f"""
        SELECT c.id, c.document_id, {_TITLE_SQL}, c.content, c.metadata,
               ts_rank_cd(c.search_vector, q) AS score
        FROM chunks c, websearch_to_tsquery('english', %s) AS q
        WHERE c.workspace_id = %s AND c.search_vector @@ q{extra}
        ORDER BY score DESC, c.id
        LIMIT %s
    """  # noqa: S608  (the filter clauses are fixed strings with parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [query, workspace.pk, *params, limit])
        rows = cursor.fetchall()
    return _rows_to_hits(rows, "text")


def _vector_literal(embedding: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in embedding) + "]"


def _fuse_rrf(rankings: dict[str, list[Hit]], weights: dict[str, float]) -> list[Hit]:
    fused: dict[Any, Hit] = {}
    for name, hits in rankings.items():
        weight = float(weights.get(name, 1.0))
        for rank, hit in enumerate(hits, start=1):
            key = ("fact", id(hit)) if hit.kind == "fact" else hit.chunk_id
            into = fused.setdefault(key, hit)
            if into is not hit:
                into.scores.update(hit.scores)
                into.ranks.update(hit.ranks)
            into.ranks[name] = rank
            into.scores["rrf"] = into.scores.get("rrf", 0.0) + weight / (RRF_K + rank)
    for hit in fused.values():
        hit.score = hit.scores["rrf"]
    return sorted(fused.values(), key=lambda h: (-h.score, str(h.chunk_id)))


def _fuse_weighted(vector: list[Hit], text: list[Hit], text_weight: float) -> list[Hit]:
    """The original design's blend: (1 - w) x similarity + w x text rank."""
    fused: dict[Any, Hit] = {}
    for hit in [*vector, *text]:
        into = fused.setdefault(hit.chunk_id, hit)
        if into is not hit:
            into.scores.update(hit.scores)
            into.ranks.update(hit.ranks)
    for hit in fused.values():
        hit.score = (1 - text_weight) * hit.scores.get(
            "vector", 0.0
        ) + text_weight * hit.scores.get("text", 0.0)
        hit.scores["weighted"] = hit.score
    return sorted(fused.values(), key=lambda h: (-h.score, str(h.chunk_id)))


def search(workspace: Workspace, request: SearchRequest) -> SearchResult:
    """Run ``request`` inside ``workspace`` and return its best hits."""
    limit = request.limit
    if request.search_type == "text":
        return SearchResult(
            text_hits(workspace, request.query, limit, request.filters), "text"
        )
    if request.search_type == "graph":
        facts = graph_search.fact_hits(
            workspace, request.query, limit, as_of=request.as_of
        )
        return SearchResult(facts, "graph")

    provider = get_provider()
    batch = provider.embed([request.query])
    embedding = batch.vectors[0]
    if request.search_type == "vector":
        hits = vector_hits(workspace, embedding, limit, request.filters)
        return SearchResult(hits, "vector", batch.tokens, provider.name)

    depth = max(limit * CANDIDATES_PER_RESULT, MIN_CANDIDATES)
    vector = vector_hits(workspace, embedding, depth, request.filters)
    text = text_hits(workspace, request.query, depth, request.filters)
    if request.fusion == "weighted":
        return SearchResult(
            _fuse_weighted(vector, text, request.text_weight)[:limit],
            "hybrid",
            batch.tokens,
            provider.name,
        )
    rankings = {"vector": vector, "text": text}
    degraded: tuple[str, ...] = ()
    if not request.filters.active and graph_search.available(workspace):
        try:
            rankings["graph"] = graph_search.fact_hits(
                workspace, request.query, depth, as_of=request.as_of
            )
        except graph_search.GraphUnavailable:
            # Passages still answer; the caller is told the graph was left out.
            degraded = ("graph",)
    return SearchResult(
        _fuse_rrf(rankings, request.weights)[:limit],
        "hybrid",
        batch.tokens,
        provider.name,
        degraded,
    )
