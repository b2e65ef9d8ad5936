"""Searching one workspace's knowledge: vector, full-text, hybrid and graph.

Every function takes the workspace and names it in its SQL as a literal
``workspace_id = …`` condition, on top of row-level security: the planner
then uses the workspace's own indexes (a partial HNSW index for a large
workspace, the B-tree for a small one; see docs/search.md).
"""

from knowledge.search.core import (
    SEARCH_TYPES,
    Hit,
    SearchFilters,
    SearchRequest,
    SearchResult,
    search,
)

__all__ = [
    "SEARCH_TYPES",
    "Hit",
    "SearchFilters",
    "SearchRequest",
    "SearchResult",
    "search",
]
