"""Graph tests run against a real FalkorDB server (tests/support/graph.py)."""

from __future__ import annotations

from typing import Any

from knowledge.graph.backend import run, workspace_graph
from knowledge.models import Document
from tenancy.context import as_workspace
from tenancy.models import Workspace
from tests.knowledge.conftest import ingest, reload, upload
from tests.support.graph import falkordb_server, graph_on

__all__ = ["falkordb_server", "graph_on"]


def ingest_text(workspace: Workspace, name: str, text: str) -> Document:
    """Upload a Markdown document and run the whole pipeline on it."""
    document = upload(workspace, name, text.encode()).document
    ingest(document)
    return reload(document)


def graph_rows(
    workspace: Workspace, cypher: str, **params: Any
) -> list[dict[str, Any]]:
    """Query the workspace's own graph directly (``$group_id`` is bound)."""

    async def work() -> list[dict[str, Any]]:
        async with workspace_graph(workspace) as graph:
            return await graph.query(cypher, **params)

    return run(work)


def entity_names(workspace: Workspace) -> set[str]:
    rows = graph_rows(
        workspace,
        "MATCH (n:Entity) WHERE n.group_id = $group_id RETURN n.name AS name",
    )
    return {row["name"] for row in rows}


def episodes_of(workspace: Workspace, document: Document) -> list[dict[str, Any]]:
    return graph_rows(
        workspace,
        "MATCH (e:Episodic) WHERE e.group_id = $group_id AND e.source_description = $s"
        " RETURN e.uuid AS uuid, e.name AS name",
        s=f"document:{document.id}",
    )


def in_context(workspace: Workspace):  # type: ignore[no-untyped-def]
    """The workspace's tenant context, as a task or tool would run in."""
    return as_workspace(workspace.pk)
