"""Reads of workspace knowledge. Every query names its workspace."""

from __future__ import annotations

import uuid

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, QuerySet

from knowledge.models import Chunk, Document


def document_list(
    *, workspace_id: uuid.UUID, status: str | None = None
) -> QuerySet[Document]:
    """The workspace's documents, newest first, optionally in one status."""
    documents = Document.objects.filter(workspace_id=workspace_id)
    if status:
        documents = documents.filter(status=status)
    return documents.order_by("-created_at", "-id")


def document_get(*, workspace_id: uuid.UUID, document_id: uuid.UUID) -> Document:
    """One document of the workspace; ``Document.DoesNotExist`` for a foreign id."""
    return Document.objects.get(workspace_id=workspace_id, id=document_id)


def document_chunk_list(
    *, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> QuerySet[Chunk]:
    """A document's chunks in order, without their vectors."""
    return (
        Chunk.objects.filter(workspace_id=workspace_id, document_id=document_id)
        .defer("embedding")
        .order_by("chunk_index")
    )


def chunk_text_search(
    *, workspace_id: uuid.UUID, query: str, limit: int = 10
) -> QuerySet[Chunk]:
    """Full-text search over one workspace's chunks, best match first."""
    search = SearchQuery(query, search_type="websearch", config="english")
    return (
        Chunk.objects.filter(workspace_id=workspace_id, search_vector=search)
        .annotate(rank=SearchRank(F("search_vector"), search))
        .select_related("document")
        .order_by("-rank", "id")[:limit]
    )
