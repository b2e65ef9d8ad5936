"""Graph hits for search, from the workspace's knowledge graph.

The graph lives in ``knowledge.graph`` (Graphiti, one group per workspace;
docs/graph.md); this module turns its facts into search hits and says
whether the deployment has a graph to search at all.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from knowledge.graph import graph_search
from knowledge.graph.backend import GraphUnavailable as BackendUnavailable
from knowledge.graph.backend import backend
from tenancy.errors import AtriumError

if TYPE_CHECKING:
    from knowledge.search.core import Hit
    from tenancy.models import Workspace

logger = logging.getLogger(__name__)


class GraphUnavailable(AtriumError):
    status = 503
    code = "graph_unavailable"


def available(workspace: Workspace) -> bool:
    """True when a graph backend is configured for this deployment."""
    return backend() != "off"


def fact_hits(
    workspace: Workspace, query: str, limit: int, *, as_of: datetime | None = None
) -> list[Hit]:
    """The workspace's facts for ``query`` as search hits, best first."""
    from knowledge.search.core import Hit

    if not available(workspace):
        raise GraphUnavailable("The knowledge graph is turned off.")
    try:
        facts = graph_search(workspace, query, limit=limit, as_of=as_of)
    except BackendUnavailable as error:
        logger.warning("graph search unavailable for workspace %s", workspace.pk)
        raise GraphUnavailable("The knowledge graph cannot be reached.") from error
    hits = []
    for rank, fact in enumerate(facts, start=1):
        score = float(fact.score or 0.0)
        hits.append(
            Hit(
                kind="fact",
                score=score,
                chunk_id=fact.chunk_id,
                document_id=fact.document_id,
                content=fact.fact,
                scores={"graph": score},
                ranks={"graph": rank},
                fact=asdict(fact),
            )
        )
    return hits
