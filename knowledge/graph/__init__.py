"""The per-workspace knowledge graph (Graphiti on FalkorDB or Neo4j).

See docs/graph.md. The ingestion pipeline's graph stage calls
``extract_document`` and ``document_delete`` calls ``delete_document``
(``knowledge/ingestion/graph_step.py``); search and the agents' tools call
``graph_search``, ``entity_relationships`` and ``entity_timeline``; the
dashboard's document page calls ``document_facts``. Every one of them takes
the workspace and touches only its graph group.
"""

from knowledge.graph.selectors import (
    EntityFacts,
    GraphFact,
    document_facts,
    entity_relationships,
    entity_timeline,
    graph_search,
)
from knowledge.graph.services import (
    delete_document,
    extract_document,
    graph_enabled,
)

__all__ = [
    "EntityFacts",
    "GraphFact",
    "delete_document",
    "document_facts",
    "entity_relationships",
    "entity_timeline",
    "extract_document",
    "graph_enabled",
    "graph_search",
]
