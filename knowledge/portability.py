"""Knowledge's part of a workspace export and of its erasure.

Exports documents (metadata and the original files), chunks (text, order,
metadata; vectors when asked) and, when the graph is on, the graph's facts.
Erasure removes stored files and the workspace's graph. Registered in
``KnowledgeConfig.ready`` (see ``tenancy.portability``).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings
from django.core.files.storage import default_storage

from knowledge.graph.backend import backend, run, workspace_graph
from knowledge.ingestion import storage
from knowledge.models import Chunk, Document
from knowledge.selectors import document_stored_files
from tenancy.models import Workspace
from tenancy.portability import Eraser, ExportWriter, register_eraser, register_exporter

logger = logging.getLogger(__name__)

BATCH = 500


def _file_entry(document: Document) -> str | None:
    if not document.file.name:
        return None
    extension = os.path.splitext(document.file.name)[1]
    return f"files/{document.pk}{extension}"


def _documents(writer: ExportWriter) -> None:
    documents = Document.objects.filter(workspace=writer.workspace).order_by(
        "created_at", "id"
    )
    files = 0
    for document in documents.iterator(chunk_size=BATCH):
        entry = _file_entry(document)
        if entry is None:
            continue
        try:
            data = storage.file_read(document.file.name)
        except OSError:
            logger.warning("export: stored file of document %s missing", document.pk)
            continue
        writer.file(entry, data)
        files += 1

    def rows() -> Iterator[dict[str, Any]]:
        for document in documents.iterator(chunk_size=BATCH):
            yield {
                "id": document.pk,
                "title": document.title,
                "source": document.source,
                "content_type": document.content_type,
                "size_bytes": document.size_bytes,
                "content_hash": document.content_hash,
                "metadata": document.metadata,
                "status": document.status,
                "error": document.error,
                "chunk_count": document.chunk_count,
                "file": _file_entry(document),
                "created_at": document.created_at,
                "ingested_at": document.ingested_at,
            }

    writer.count("documents", writer.jsonl("documents.jsonl", rows()))
    writer.count("files", files)


def _chunks(writer: ExportWriter) -> None:
    fields = ["id", "document_id", "chunk_index", "content", "token_count"]
    fields += ["metadata", "embedding_model"]
    if writer.include_embeddings:
        fields.append("embedding")
    chunks = (
        Chunk.objects.filter(workspace=writer.workspace)
        .order_by("document_id", "chunk_index")
        .only(*fields)
    )

    def rows() -> Iterator[dict[str, Any]]:
        for chunk in chunks.iterator(chunk_size=BATCH):
            row: dict[str, Any] = {name: getattr(chunk, name) for name in fields}
            if writer.include_embeddings:
                vector = chunk.embedding
                row["embedding"] = (
                    None if vector is None else [float(v) for v in vector]
                )
            yield row

    writer.count("chunks", writer.jsonl("chunks.jsonl", rows()))


async def _graph_facts(workspace: Workspace) -> list[dict[str, Any]]:
    async with workspace_graph(workspace) as graph:
        edges = await graph.query(
            "MATCH (a:Entity)-[r:RELATES_TO]->(b:Entity)"
            " WHERE r.group_id = $group_id"
            " RETURN r.uuid AS id, r.fact AS fact, r.name AS relation,"
            " a.name AS source_entity, b.name AS target_entity,"
            " r.valid_at AS valid_at, r.invalid_at AS invalid_at,"
            " r.episodes AS episodes ORDER BY r.uuid"
        )
        episodes = {
            row["uuid"]: row["name"]
            for row in await graph.query(
                "MATCH (e:Episodic) WHERE e.group_id = $group_id"
                " RETURN e.uuid AS uuid, e.name AS name"
            )
        }
    facts = []
    for edge in edges:
        # Episode names are "<document id>:<chunk id>" (knowledge.graph.services).
        sources = [episodes[e] for e in edge.pop("episodes") or [] if e in episodes]
        facts.append(
            {
                **{k: (str(v) if v is not None else None) for k, v in edge.items()},
                "sources": [
                    dict(
                        zip(("document_id", "chunk_id"), s.split(":", 1), strict=False)
                    )
                    for s in sources
                ],
            }
        )
    return facts


def _graph(writer: ExportWriter) -> None:
    if backend() == "off":
        return
    facts = run(lambda: _graph_facts(writer.workspace))
    writer.count("graph_facts", writer.jsonl("graph_facts.jsonl", facts))


def export_knowledge(writer: ExportWriter) -> None:
    _documents(writer)
    _chunks(writer)
    _graph(writer)


# --- erasure -----------------------------------------------------------------


def _stored_files(workspace_id: uuid.UUID) -> list[str]:
    return document_stored_files(workspace_id=workspace_id)


def _files_erase(workspace_id: uuid.UUID, names: list[str] | None) -> dict[str, Any]:
    """Delete the workspace's stored originals, and its directory's leftovers."""
    removed = 0
    for name in names or []:
        if default_storage.exists(name):
            default_storage.delete(name)
            removed += 1
    for name in storage.workspace_files(workspace_id):
        default_storage.delete(name)
        removed += 1
    return {"removed": removed}


async def _graph_empty(workspace: Workspace) -> dict[str, int]:
    async with workspace_graph(workspace) as graph:
        [counted] = await graph.query(
            "MATCH (n) WHERE n.group_id = $group_id"
            " OPTIONAL MATCH (n)-[r]->() RETURN count(DISTINCT n) AS nodes,"
            " count(r) AS edges"
        )
        await graph.query("MATCH (n) WHERE n.group_id = $group_id DETACH DELETE n")
    return {"nodes": int(counted["nodes"]), "edges": int(counted["edges"])}


def _falkordb_graph_drop(name: str) -> bool:
    """Drop a FalkorDB graph whole, indexes included; False if it was absent.

    Done after Graphiti's client has closed: its driver builds indexes in a
    background task on open, which would otherwise recreate the graph.
    """
    client = redis.Redis(
        host=settings.ATRIUM_GRAPH_HOST,
        port=settings.ATRIUM_GRAPH_PORT,
        username=settings.ATRIUM_GRAPH_USERNAME or None,
        password=settings.ATRIUM_GRAPH_PASSWORD or None,
    )
    try:
        client.execute_command("GRAPH.DELETE", name)
    except redis.ResponseError:
        return False
    finally:
        client.close()
    return True


def _graph_erase(workspace_id: uuid.UUID, _prepared: Any) -> dict[str, Any]:
    if backend() == "off":
        return {"backend": "off"}
    # The row is gone; the group follows from the id.
    workspace = Workspace(id=workspace_id)
    result: dict[str, Any] = {
        "backend": backend(),
        **run(lambda: _graph_empty(workspace)),
    }
    if backend() == "falkordb":
        # On FalkorDB the workspace is a graph of its own: drop it too.
        result["graph_dropped"] = _falkordb_graph_drop(workspace.graph_group_id)
    return result


def register() -> None:
    register_exporter("knowledge", export_knowledge)
    register_eraser(
        Eraser(name="document_files", prepare=_stored_files, erase=_files_erase)
    )
    register_eraser(Eraser(name="graph", erase=_graph_erase))
