"""Ingestion upkeep: the stuck-document and orphan-file sweepers, re-embedding."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from knowledge.embeddings import EmbeddingProvider, get_provider
from knowledge.ingestion import storage
from knowledge.ingestion.fairness import bulk_held
from knowledge.ingestion.pipeline import (
    ACTIVE_STATUSES,
    chunks_embed,
    dispatch_for_status,
    save_touched,
)
from knowledge.models import Chunk, Document
from knowledge.selectors import document_stored_files
from tenancy.context import as_workspace

logger = logging.getLogger(__name__)


def document_sweep_stuck(
    *, workspace_id: uuid.UUID, older_than: timedelta | None = None
) -> list[uuid.UUID]:
    """Re-queue the workspace's documents whose stage has not moved in time.

    Covers what the broker cannot: a task lost between commit and publish,
    a purged queue, a worker gone past redelivery. Each re-queue touches
    ``updated_at``, so the next sweep waits a full period again; the
    attempts limit ends a document that keeps getting stuck.
    """
    older_than = older_than or timedelta(seconds=settings.ATRIUM_INGEST_STUCK_SECONDS)
    cutoff = timezone.now() - older_than
    with as_workspace(workspace_id):
        stuck = list(
            Document.objects.select_for_update(skip_locked=True).filter(
                workspace_id=workspace_id,
                status__in=ACTIVE_STATUSES,
                updated_at__lt=cutoff,
            )
        )
        # A bulk job's documents waiting for admission are not stuck: they
        # wait their organization's turn (knowledge/ingestion/fairness.py).
        # Nor are those admitted since the cutoff: their task is queued,
        # though the document itself has not moved since it began to wait.
        held = bulk_held((d.id for d in stuck), admitted_after=cutoff.timestamp())
        stuck = [document for document in stuck if document.id not in held]
        for document in stuck:
            save_touched(document)
            dispatch_for_status(document=document)
    if stuck:
        logger.info(
            "re-queued %s stuck documents of workspace %s", len(stuck), workspace_id
        )
    return [document.id for document in stuck]


def files_sweep_orphans(
    *, workspace_id: uuid.UUID, older_than: timedelta | None = None
) -> list[str]:
    """Delete the workspace's stored originals that no document refers to.

    An original is written before its document row commits, so an upload or
    a replacement whose transaction rolled back, or a delete whose removal
    after commit was lost with its process, leaves a file behind. Only files
    older than the grace period go: a younger one may belong to an upload
    whose transaction has not committed yet.
    """
    older_than = older_than or timedelta(
        seconds=settings.ATRIUM_ORPHAN_FILE_GRACE_SECONDS
    )
    cutoff = timezone.now() - older_than
    names = storage.workspace_files(workspace_id)
    if not names:
        return []
    with as_workspace(workspace_id):
        kept = set(document_stored_files(workspace_id=workspace_id))
    removed = []
    for name in names:
        if name in kept or storage.file_modified(name) > cutoff:
            continue
        storage.file_delete(name)
        removed.append(name)
    if removed:
        logger.info(
            "removed %s orphaned files of workspace %s", len(removed), workspace_id
        )
    return removed


def workspace_reembed(
    *,
    workspace_id: uuid.UUID,
    provider: EmbeddingProvider | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Embed the workspace's chunks whose vector is missing or from another model.

    Used when the deployment changes model; ``force`` re-embeds every chunk
    (a new model under the same name). Batches are read and written in
    short transactions of the workspace's context, walking chunk ids, so a
    rerun after an interruption continues with what is still stale.
    """
    provider = provider or get_provider()
    embedded = tokens = 0
    after: uuid.UUID | None = None
    while True:
        with as_workspace(workspace_id):
            chunks = Chunk.objects.filter(workspace_id=workspace_id)
            if not force:
                chunks = chunks.filter(
                    Q(embedding__isnull=True) | ~Q(embedding_model=provider.name)
                )
            if after is not None:
                chunks = chunks.filter(id__gt=after)
            batch = list(
                chunks.only("id", "content").order_by("id")[
                    : settings.ATRIUM_EMBEDDING_BATCH_SIZE
                ]
            )
        if not batch:
            break
        tokens += chunks_embed(chunks=batch, provider=provider)
        with as_workspace(workspace_id):
            Chunk.objects.bulk_update(
                batch, ["embedding", "embedding_model", "token_count"]
            )
        embedded += len(batch)
        after = batch[-1].id
    logger.info(
        "re-embedded %s chunks of workspace %s with %s",
        embedded,
        workspace_id,
        provider.name,
    )
    return {
        "workspace_id": str(workspace_id),
        "model": provider.name,
        "chunks": embedded,
        "tokens": tokens,
    }
