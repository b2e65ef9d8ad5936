"""Background work on workspace knowledge.

Task names decide queues (``CELERY_TASK_ROUTES``): ``ingest_*`` run on the
ingest queue, ``embed_*`` on the embed queue, ``graph_*`` on the graph queue
(slow model calls there never hold up embedding). Every task takes the
workspace id first.

The pipeline tasks do not use ``workspace_task``: that runs the whole body
in one transaction, which would hide each stage until the end and hold a
transaction open while a model embeds. They call services that open a
short ``as_workspace`` block per step instead (knowledge/ingestion/pipeline.py).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from knowledge import services
from knowledge.embeddings import EmbeddingError
from knowledge.ingestion import fairness, maintenance, pipeline
from knowledge.ingestion.errors import IngestionError
from tenancy.context import as_workspace
from tenancy.selectors import workspace_ids_for_system
from tenancy.tasks import workspace_task

logger = logging.getLogger(__name__)

# Retries of a provider's transient failure (429, 5xx, unreachable), with
# exponential back-off capped at EMBED_BACKOFF_MAX seconds.
EMBED_MAX_RETRIES = 4
EMBED_BACKOFF_MAX = 600


@workspace_task()
def workspace_document_count_refresh(workspace_id: str) -> int:
    """Recount one workspace's documents into its usage counter."""
    return services.workspace_document_count_refresh(workspace_id=workspace_id)


@shared_task
def document_counts_refresh_all() -> int:
    """Recount documents of every workspace, each inside its own context."""
    refreshed = 0
    for workspace_id in workspace_ids_for_system():
        with as_workspace(workspace_id):
            services.workspace_document_count_refresh(workspace_id=workspace_id)
        refreshed += 1
    logger.info("refreshed document counts of %s workspaces", refreshed)
    return refreshed


def _released(result: dict[str, Any]) -> dict[str, Any]:
    """Free a bulk document's ingest slot: it no longer loads those queues."""
    fairness.bulk_release(document_id=result["document_id"], lane=fairness.INGEST)
    return result


@shared_task(name="knowledge.tasks.ingest_document")
def ingest_document(workspace_id: str, document_id: str) -> dict[str, Any]:
    """Parse and chunk a document; queues ``embed_document`` when done."""
    workspace, document = uuid.UUID(workspace_id), uuid.UUID(document_id)
    try:
        result = pipeline.document_ingest_run(
            workspace_id=workspace, document_id=document
        )
        # Chunked (or already further on), it holds its slot until its
        # embedding is done; refused, gone or failed, it lets go.
        if result.get("state") in ("failed", "missing", "superseded", "ready"):
            return _released(result)
        return result
    except SoftTimeLimitExceeded:
        timeout = IngestionError("timeout", "Parsing took longer than allowed.")
        pipeline.document_fail(
            workspace_id=workspace, document_id=document, error=timeout
        )
        return _released(
            {"document_id": document_id, "state": "failed", "code": "timeout"}
        )


@shared_task(bind=True, name="knowledge.tasks.embed_document")
def embed_document(self: Any, workspace_id: str, document_id: str) -> dict[str, Any]:
    """Embed a chunked document; queue its graph task (or mark it ready).

    The result's ``tokens`` are what this run embedded, for metering.
    """
    workspace, document = uuid.UUID(workspace_id), uuid.UUID(document_id)
    try:
        return _released(
            pipeline.document_embed_run(
                workspace_id=workspace,
                document_id=document,
                count_attempt=self.request.retries == 0,
            )
        )
    except EmbeddingError as error:
        if error.retryable and self.request.retries < EMBED_MAX_RETRIES:
            countdown = min(EMBED_BACKOFF_MAX, 2 ** (self.request.retries + 2))
            logger.warning(
                "embedding document %s: %s, retrying in %ss",
                document_id,
                error.code,
                countdown,
            )
            raise self.retry(countdown=countdown, exc=error) from error
        failed = IngestionError("embedding_failed", str(error))
        pipeline.document_fail(
            workspace_id=workspace, document_id=document, error=failed
        )
        return _released(
            {"document_id": document_id, "state": "failed", "code": error.code}
        )
    except SoftTimeLimitExceeded:
        timeout = IngestionError("timeout", "Embedding took longer than allowed.")
        pipeline.document_fail(
            workspace_id=workspace, document_id=document, error=timeout
        )
        return _released(
            {"document_id": document_id, "state": "failed", "code": "timeout"}
        )


@shared_task(bind=True, name="knowledge.tasks.graph_document")
def graph_document(self: Any, workspace_id: str, document_id: str) -> dict[str, Any]:
    """Build an embedded document's part of the workspace graph; mark it ready.

    However it ends (ready, failed, the document deleted or re-ingested
    meanwhile, an error), a bulk document's graph slot is freed.
    """
    workspace, document = uuid.UUID(workspace_id), uuid.UUID(document_id)
    try:
        return pipeline.document_graph_run(
            workspace_id=workspace,
            document_id=document,
            count_attempt=self.request.retries == 0,
        )
    except SoftTimeLimitExceeded:
        timeout = IngestionError("timeout", "Building the graph took too long.")
        pipeline.document_fail(
            workspace_id=workspace, document_id=document, error=timeout
        )
        return {"document_id": document_id, "state": "failed", "code": "timeout"}
    finally:
        fairness.bulk_release(document_id=document_id, lane=fairness.GRAPH)


@shared_task(name="knowledge.tasks.embed_workspace_reembed")
def embed_workspace_reembed(workspace_id: str, force: bool = False) -> dict[str, Any]:
    """Re-embed a workspace's chunks made by another model (or all, ``force``)."""
    return maintenance.workspace_reembed(
        workspace_id=uuid.UUID(workspace_id), force=force
    )


@shared_task(name="knowledge.tasks.ingest_sweep_stuck")
def ingest_sweep_stuck() -> int:
    """Re-queue stuck documents of every workspace, each in its own context."""
    requeued = 0
    for workspace_id in workspace_ids_for_system():
        requeued += len(maintenance.document_sweep_stuck(workspace_id=workspace_id))
    # Slots whose release was lost have expired by now: serve the waiting.
    fairness.bulk_admit()
    return requeued


@shared_task(name="knowledge.tasks.ingest_sweep_orphan_files")
def ingest_sweep_orphan_files() -> int:
    """Delete stored originals no document refers to, workspace by workspace."""
    return sum(
        len(maintenance.files_sweep_orphans(workspace_id=workspace_id))
        for workspace_id in workspace_ids_for_system()
    )
