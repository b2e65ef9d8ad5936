"""The agents' one door to the knowledge graph.

``knowledge.graph`` offers ``graph_search``, ``entity_relationships`` and
``entity_timeline``, each taking the workspace. This adapter imports it
lazily (it pulls in Graphiti) and turns its facts into plain dicts, so the
tools do not depend on the graph module's classes.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Any

from django.conf import settings

from tenancy.models import Workspace


class GraphOff(Exception):
    """No graph backend is configured for this deployment."""


def _module() -> Any:
    if getattr(settings, "ATRIUM_GRAPH_BACKEND", "off") == "off":
        raise GraphOff()
    try:
        return importlib.import_module("knowledge.graph")
    except ImportError as exc:
        raise GraphOff() from exc


def _fact(fact: Any) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "fact_id": str(fact.fact_id),
        "fact": fact.fact,
        "relation": fact.relation,
        "source_entity": fact.source_entity,
        "target_entity": fact.target_entity,
        "valid_at": when(fact.valid_at),
        "invalid_at": when(fact.invalid_at),
        "document_id": str(fact.document_id) if fact.document_id else None,
        "chunk_id": str(fact.chunk_id) if fact.chunk_id else None,
        "score": fact.score,
    }


def facts_search(workspace: Workspace, query: str, limit: int) -> list[dict[str, Any]]:
    return [_fact(f) for f in _module().graph_search(workspace, query, limit=limit)]


def entity_facts(
    workspace: Workspace, entity: str, *, timeline: bool, limit: int
) -> tuple[str, list[dict[str, Any]]]:
    """The entity's name as the graph spells it, and its facts."""
    module = _module()
    read = module.entity_timeline if timeline else module.entity_relationships
    result = read(workspace, entity, limit=limit)
    return result.entity, [_fact(f) for f in result.facts]
