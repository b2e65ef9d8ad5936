"""Reads of workspace knowledge. Every query names its workspace."""

from __future__ import annotations

import uuid

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, QuerySet

from knowledge.models import Chunk, Document


def document_list(*, workspace_id: uuid.UUID) -> QuerySet[Document]:
    return Document.objects.filter(workspace_id=workspace_id).order_by("-created_at")


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
