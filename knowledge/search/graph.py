"""Graph hits for search, from the workspace's knowledge graph.

The graph lives in ``knowledge.graph`` (Graphiti, one group per workspace);
this module turns its facts into search hits and answers whether a
workspace has a graph to search at all.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tenancy.errors import AtriumError

if TYPE_CHECKING:
    from knowledge.search.core import Hit
    from tenancy.models import Workspace

logger = logging.getLogger(__name__)


class GraphUnavailable(AtriumError):
    status = 503
    code = "graph_unavailable"


def _graph() -> Any:
    try:
        module = importlib.import_module("knowledge.graph")
    except ImportError:
        return None
    if not getattr(module, "enabled", lambda: False)():
        return None
    return module


def available(workspace: Workspace) -> bool:
    """True when a graph backend is configured for this deployment."""
    return _graph() is not None


def fact_hits(
    workspace: Workspace, query: str, limit: int, *, as_of: datetime | None = None
) -> list[Hit]:
    from knowledge.search.core import Hit

    graph = _graph()
    if graph is None:
        raise GraphUnavailable("The knowledge graph is not configured.")
    facts = graph.graph_search(workspace, query, limit=limit, as_of=as_of)
    hits = []
    for rank, fact in enumerate(facts, start=1):
        data = fact.as_dict() if hasattr(fact, "as_dict") else dict(vars(fact))
        hits.append(
            Hit(
                kind="fact",
                score=float(data.get("score") or 0.0),
                chunk_id=data.get("chunk_id"),
                document_id=data.get("document_id"),
                content=str(data.get("fact", "")),
                scores={"graph": float(data.get("score") or 0.0)},
                ranks={"graph": rank},
                fact=data,
            )
        )
    return hits
