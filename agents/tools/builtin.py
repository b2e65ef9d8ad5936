"""The eight tools an agent may be given, each over its own workspace only."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.conf import settings

from agents.tools import graph
from agents.tools.base import Source, Tool, ToolFailure, ToolResult
from knowledge import selectors
from knowledge.models import Document
from knowledge.search import SearchRequest, search
from tenancy.models import Workspace

logger = logging.getLogger(__name__)

MAX_PASSAGE = 1500  # characters of one passage sent to the model
MAX_DOCUMENT = 12_000  # characters of a whole document sent to the model


def _limit_schema(default: int, maximum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": maximum, "default": default}


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


QUERY = {"type": "string", "minLength": 1, "maxLength": 1000}
SEARCH_SCHEMA = _schema({"query": QUERY, "limit": _limit_schema(5, 20)}, ["query"])
ENTITY_SCHEMA = _schema(
    {
        "entity": {"type": "string", "minLength": 1, "maxLength": 200},
        "limit": _limit_schema(20, 100),
    },
    ["entity"],
)


def _chunk_sources(hits: list[Any]) -> list[Source]:
    sources = []
    for hit in hits:
        if hit.kind == "fact":
            fact = hit.fact or {}
            key = str(fact.get("fact_id") or hit.content)
            sources.append(
                Source(
                    kind="fact",
                    key=f"fact:{key}",
                    content=hit.content,
                    document_id=str(hit.document_id) if hit.document_id else None,
                    chunk_id=str(hit.chunk_id) if hit.chunk_id else None,
                    fact_id=str(fact.get("fact_id")) if fact.get("fact_id") else None,
                    score=round(hit.score, 6),
                )
            )
            continue
        sources.append(
            Source(
                kind="chunk",
                key=f"chunk:{hit.chunk_id}",
                content=hit.content[:MAX_PASSAGE],
                document_id=str(hit.document_id),
                document_title=hit.document_title,
                chunk_id=str(hit.chunk_id),
                score=round(hit.score, 6),
            )
        )
    return sources


def _search_runner(search_type: str) -> Any:
    def run(workspace: Workspace, arguments: dict[str, Any]) -> ToolResult:
        limit = min(int(arguments.get("limit", 5)), settings.ATRIUM_SEARCH_MAX_LIMIT)
        result = search(
            workspace,
            SearchRequest(
                query=arguments["query"], search_type=search_type, limit=limit
            ),
        )
        sources = _chunk_sources(result.hits)
        return ToolResult(data={"results": sources}, sources=sources)

    return run


def _graph_search(workspace: Workspace, arguments: dict[str, Any]) -> ToolResult:
    try:
        facts = graph.facts_search(
            workspace, arguments["query"], int(arguments.get("limit", 5))
        )
    except graph.GraphOff:
        raise ToolFailure(
            "This workspace has no knowledge graph to search.", code="graph_unavailable"
        ) from None
    sources = [_fact_source(f) for f in facts]
    return ToolResult(data={"results": sources}, sources=sources)


def _fact_source(fact: dict[str, Any]) -> Source:
    return Source(
        kind="fact",
        key=f"fact:{fact['fact_id']}",
        content=fact["fact"],
        document_id=fact["document_id"],
        chunk_id=fact["chunk_id"],
        fact_id=fact["fact_id"],
        score=fact["score"],
    )


def _entity_runner(*, timeline: bool) -> Any:
    def run(workspace: Workspace, arguments: dict[str, Any]) -> ToolResult:
        try:
            name, facts = graph.entity_facts(
                workspace,
                arguments["entity"],
                timeline=timeline,
                limit=int(arguments.get("limit", 20)),
            )
        except graph.GraphOff:
            raise ToolFailure(
                "This workspace has no knowledge graph.", code="graph_unavailable"
            ) from None
        sources = [_fact_source(f) for f in facts]
        extra = {
            f["fact_id"]: {
                k: f[k]
                for k in ("relation", "source_entity", "target_entity", "valid_at")
            }
            | {"invalid_at": f["invalid_at"]}
            for f in facts
        }
        return ToolResult(
            data={"entity": name, "results": sources, "details": extra},
            sources=sources,
        )

    return run


def _document_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ToolFailure(
            "document_id is not a document id.", code="invalid_arguments"
        ) from None


def _get_document(workspace: Workspace, arguments: dict[str, Any]) -> ToolResult:
    document_id = _document_id(arguments["document_id"])
    try:
        document = selectors.document_get(
            workspace_id=workspace.pk, document_id=document_id
        )
    except Document.DoesNotExist:
        # The same answer for a foreign id as for a missing one.
        raise ToolFailure("No such document.", code="not_found") from None
    chunks = list(
        selectors.document_chunk_list(
            workspace_id=workspace.pk, document_id=document.pk
        )
    )
    sources: list[Source] = []
    used = 0
    for chunk in chunks:
        if used >= MAX_DOCUMENT:
            break
        text = chunk.content[: MAX_DOCUMENT - used]
        used += len(text)
        sources.append(
            Source(
                kind="chunk",
                key=f"chunk:{chunk.pk}",
                content=text,
                document_id=str(document.pk),
                document_title=document.title,
                chunk_id=str(chunk.pk),
            )
        )
    data = {
        "document": {
            "document_id": str(document.pk),
            "title": document.title,
            "status": document.status,
            "chunk_count": len(chunks),
            "truncated": len(sources) < len(chunks),
        },
        "results": sources,
    }
    return ToolResult(data=data, sources=sources)


def _list_documents(workspace: Workspace, arguments: dict[str, Any]) -> ToolResult:
    limit = int(arguments.get("limit", 20))
    documents = selectors.document_list(
        workspace_id=workspace.pk, status=arguments.get("status")
    ).only("id", "title", "status", "chunk_count", "created_at")[:limit]
    rows = [
        {
            "document_id": str(d.pk),
            "title": d.title,
            "status": d.status,
            "chunk_count": d.chunk_count,
            "created_at": d.created_at.isoformat(),
        }
        for d in documents
    ]
    return ToolResult(data={"documents": rows})


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            "vector_search",
            "Semantic search over the workspace's documents: passages whose "
            "meaning is closest to the query.",
            SEARCH_SCHEMA,
            _search_runner("vector"),
        ),
        Tool(
            "text_search",
            "Full-text keyword search over the workspace's documents (web-search "
            "syntax: quoted phrases, OR, -exclusion).",
            SEARCH_SCHEMA,
            _search_runner("text"),
        ),
        Tool(
            "hybrid_search",
            "The best general search: semantic and keyword search fused, plus "
            "knowledge-graph facts when the workspace has a graph.",
            SEARCH_SCHEMA,
            _search_runner("hybrid"),
        ),
        Tool(
            "graph_search",
            "Search facts (entity - relation - entity) extracted from the "
            "workspace's documents.",
            SEARCH_SCHEMA,
            _graph_search,
        ),
        Tool(
            "get_document",
            "Read one document of the workspace in full, by its document_id "
            "(from a search result or list_documents).",
            _schema(
                {"document_id": {"type": "string", "minLength": 1, "maxLength": 64}},
                ["document_id"],
            ),
            _get_document,
        ),
        Tool(
            "list_documents",
            "List the workspace's documents, newest first: id, title, status.",
            _schema(
                {
                    "status": {
                        "type": "string",
                        "enum": [
                            "queued",
                            "parsing",
                            "chunking",
                            "embedding",
                            "graph",
                            "ready",
                            "failed",
                        ],
                    },
                    "limit": _limit_schema(20, 100),
                },
                [],
            ),
            _list_documents,
        ),
        Tool(
            "get_entity_relationships",
            "Every fact in the knowledge graph linking the named entity to others.",
            ENTITY_SCHEMA,
            _entity_runner(timeline=False),
        ),
        Tool(
            "get_entity_timeline",
            "The named entity's facts in the order they became true, with when "
            "each stopped holding.",
            ENTITY_SCHEMA,
            _entity_runner(timeline=True),
        ),
    )
}
