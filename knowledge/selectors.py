"""Reads of workspace knowledge. Every query names its workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Count, F, QuerySet

from knowledge.models import Chunk, Document


def document_list(
    *,
    workspace_id: uuid.UUID,
    status: str | None = None,
    statuses: Iterable[str] | None = None,
    title_contains: str | None = None,
) -> QuerySet[Document]:
    """The workspace's documents, newest first.

    Optionally only those in one ``status`` or any of ``statuses``, and whose
    title contains ``title_contains`` (case-insensitive).
    """
    documents = Document.objects.filter(workspace_id=workspace_id)
    if status:
        documents = documents.filter(status=status)
    if statuses is not None:
        documents = documents.filter(status__in=list(statuses))
    if title_contains:
        documents = documents.filter(title__icontains=title_contains)
    return documents.order_by("-created_at", "-id")


def document_status_counts(*, workspace_id: uuid.UUID) -> dict[str, int]:
    """How many of the workspace's documents are in each status (one query)."""
    rows = (
        Document.objects.filter(workspace_id=workspace_id)
        .order_by()
        .values_list("status")
        .annotate(count=Count("id"))
    )
    return {status: count for status, count in rows}


def document_stored_files(*, workspace_id: uuid.UUID) -> list[str]:
    """The storage names of the workspace's documents' originals."""
    return list(
        Document.objects.filter(workspace_id=workspace_id)
        .exclude(file="")
        .values_list("file", flat=True)
    )


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
