"""The ingestion stages, run by Celery tasks: parse → chunk → embed → graph.

Each stage commits its state (``Document.status``, ``progress``, ``stages``)
in short transactions of its own, inside the workspace's context, so a
document's progress is visible while it runs and a killed worker leaves a
state the next delivery resumes from:

- the ingest task re-parses and re-chunks unless chunking already finished
  for the document's current content; new chunks replace old ones in one
  transaction (delete and insert under the document's row lock), so a rerun
  never duplicates them;
- the embed task embeds only chunks without a vector from the current model,
  committing batch by batch; a rerun picks up where the last one stopped;
- every write first re-locks the document and checks that its content hash
  is still the one the run started from, so a run overtaken by a re-ingest
  changes nothing.

``attempts`` counts deliveries of the current step; past
``ATRIUM_INGEST_MAX_ATTEMPTS`` the document fails instead of being
redelivered forever (a file that kills its worker would otherwise loop).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.services import usage_record
from knowledge.embeddings import EmbeddingProvider, get_provider
from knowledge.ingestion import graph_step, parsers, storage
from knowledge.ingestion.chunking import ChunkSettings, chunk_document
from knowledge.ingestion.errors import IngestionError
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy.context import as_workspace
from tenancy.models import Workspace
from tenancy.observability.metrics import ingest_stage_observe
from tenancy.webhooks import event_emit

logger = logging.getLogger(__name__)

STAGES = ("parsing", "chunking", "embedding", "graph")
ACTIVE_STATUSES = (
    DocumentStatus.QUEUED,
    DocumentStatus.PARSING,
    DocumentStatus.CHUNKING,
    DocumentStatus.EMBEDDING,
    DocumentStatus.GRAPH,
)
# Statuses the ingest task works on; the embed task takes the rest.
INGEST_STATUSES = (
    DocumentStatus.QUEUED,
    DocumentStatus.PARSING,
    DocumentStatus.CHUNKING,
)
EMBED_STATUSES = (DocumentStatus.EMBEDDING, DocumentStatus.GRAPH)


def stages_initial() -> dict[str, dict[str, Any]]:
    return {stage: {"state": "pending"} for stage in STAGES}


def _now() -> str:
    return timezone.now().isoformat()


def _locked(workspace_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    return (
        Document.objects.select_for_update()
        .filter(workspace_id=workspace_id, id=document_id)
        .first()
    )


def save_touched(document: Document, *fields: str) -> None:
    document.updated_at = timezone.now()
    document.save(update_fields=[*fields, "updated_at"])


def _stage_start(document: Document, stage: str, status: str, progress: int) -> None:
    entry = dict(document.stages.get(stage) or {})
    entry.update(state="running", started=_now(), finished=None, error=None)
    entry.pop("code", None)
    document.stages = {**document.stages, stage: entry}
    document.status = status
    document.progress = progress


def _stage_observe(stage: str, entry: dict[str, Any], outcome: str) -> None:
    """Report how long the stage ran (from its recorded start) to the metrics."""
    try:
        started = datetime.fromisoformat(str(entry["started"]))
    except (KeyError, TypeError, ValueError):
        return
    seconds = (timezone.now() - started).total_seconds()
    ingest_stage_observe(stage=stage, seconds=seconds, outcome=outcome)


def _stage_done(document: Document, stage: str, **extra: Any) -> None:
    entry = dict(document.stages.get(stage) or {})
    entry.update(state="done", finished=_now(), error=None, **extra)
    document.stages = {**document.stages, stage: entry}
    _stage_observe(stage, entry, "done")


def _stage_fail(document: Document, stage: str, error: IngestionError) -> None:
    entry = dict(document.stages.get(stage) or {})
    entry.update(state="failed", finished=_now(), error=error.message, code=error.code)
    document.stages = {**document.stages, stage: entry}
    _stage_observe(stage, entry, "failed")
    document.status = DocumentStatus.FAILED
    document.error = str(error)
    event_emit(
        workspace_id=document.workspace_id,
        type="document.failed",
        data={
            "document_id": str(document.pk),
            "title": document.title,
            "stage": stage,
            "code": error.code,
            "message": error.message,
        },
    )


def current_stage(document: Document) -> str:
    """The stage a document in an active status is at (or waits for)."""
    return {
        DocumentStatus.QUEUED: "parsing",
        DocumentStatus.PARSING: "parsing",
        DocumentStatus.CHUNKING: "chunking",
        DocumentStatus.EMBEDDING: "embedding",
        DocumentStatus.GRAPH: "graph",
    }.get(DocumentStatus(document.status), "parsing")


def document_fail(
    *, workspace_id: uuid.UUID, document_id: uuid.UUID, error: IngestionError
) -> None:
    """Mark the document failed at its current stage, with the error's code."""
    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.status not in ACTIVE_STATUSES:
            return
        _stage_fail(document, current_stage(document), error)
        save_touched(document, "stages", "status", "error")
    logger.info(
        "document %s of workspace %s failed: %s", document_id, workspace_id, error.code
    )


def _count_attempt(document: Document, *, count: bool) -> IngestionError | None:
    if not count:
        return None
    document.attempts += 1
    if document.attempts > settings.ATRIUM_INGEST_MAX_ATTEMPTS:
        return IngestionError(
            "too_many_attempts",
            f"Processing was interrupted {document.attempts - 1} times; "
            "retry the document to try again.",
        )
    return None


# --- Dispatch ----------------------------------------------------------------


def dispatch_ingest(*, workspace_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Queue the ingest task once the current transaction commits."""
    from knowledge import tasks

    transaction.on_commit(
        lambda: tasks.ingest_document.delay(str(workspace_id), str(document_id))
    )


def dispatch_embed(*, workspace_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Queue the embed task once the current transaction commits."""
    from knowledge import tasks

    transaction.on_commit(
        lambda: tasks.embed_document.delay(str(workspace_id), str(document_id))
    )


def dispatch_for_status(*, document: Document) -> None:
    """Queue whichever task moves ``document`` on from its status."""
    if document.status in EMBED_STATUSES:
        dispatch_embed(workspace_id=document.workspace_id, document_id=document.id)
    else:
        dispatch_ingest(workspace_id=document.workspace_id, document_id=document.id)


# --- Parse and chunk ---------------------------------------------------------


def document_ingest_run(
    *, workspace_id: uuid.UUID, document_id: uuid.UUID, count_attempt: bool = True
) -> dict[str, Any]:
    """Parse and chunk one document, then queue its embedding."""
    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None:
            return {"document_id": str(document_id), "state": "missing"}
        if document.status not in INGEST_STATUSES:
            return {"document_id": str(document_id), "state": document.status}
        refused = _count_attempt(document, count=count_attempt)
        if refused:
            _stage_fail(document, current_stage(document), refused)
            save_touched(document, "stages", "status", "error", "attempts")
            return {"document_id": str(document_id), "state": document.status}
        _stage_start(document, "parsing", DocumentStatus.PARSING, 5)
        save_touched(document, "stages", "status", "progress", "attempts")
        content_hash = document.content_hash
        file_name = document.file.name
        fmt = str(document.metadata.get("format", ""))
        fallback_title = document.title
        workspace_settings = (
            Workspace.objects.filter(id=workspace_id)
            .values_list("settings", flat=True)
            .first()
        )

    try:
        data = storage.file_read(file_name)
        parsed = parsers.parse(
            fmt,
            data,
            fallback_title=fallback_title,
            max_pages=settings.ATRIUM_PDF_MAX_PAGES,
        )
    except IngestionError as error:
        document_fail(workspace_id=workspace_id, document_id=document_id, error=error)
        return {"document_id": str(document_id), "state": "failed", "code": error.code}
    except (OSError, KeyError) as error:
        logger.warning(
            "stored file of document %s unreadable: %s",
            document_id,
            type(error).__name__,
        )
        missing = IngestionError("corrupt_file", "The stored file cannot be read.")
        document_fail(workspace_id=workspace_id, document_id=document_id, error=missing)
        return {
            "document_id": str(document_id),
            "state": "failed",
            "code": missing.code,
        }

    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.content_hash != content_hash:
            return {"document_id": str(document_id), "state": "superseded"}
        if document.status not in INGEST_STATUSES:
            return {"document_id": str(document_id), "state": document.status}
        if document.metadata.get("title_source") != "user" and parsed.title:
            document.title = parsed.title
        document.content = parsed.text
        document.metadata = {**parsed.metadata, **document.metadata}
        _stage_done(document, "parsing", characters=len(parsed.text))
        _stage_start(document, "chunking", DocumentStatus.CHUNKING, 15)
        save_touched(
            document, "title", "content", "metadata", "stages", "status", "progress"
        )

    chunk_settings = ChunkSettings.from_workspace(workspace_settings)
    chunks = chunk_document(parsed, chunk_settings)

    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.content_hash != content_hash:
            return {"document_id": str(document_id), "state": "superseded"}
        if document.status != DocumentStatus.CHUNKING:
            return {"document_id": str(document_id), "state": document.status}
        if len(chunks) > settings.ATRIUM_DOCUMENT_MAX_CHUNKS:
            too_many = IngestionError(
                "too_many_chunks",
                f"The document makes more than {settings.ATRIUM_DOCUMENT_MAX_CHUNKS}"
                " chunks.",
            )
            _stage_fail(document, "chunking", too_many)
            save_touched(document, "stages", "status", "error")
            return {
                "document_id": str(document_id),
                "state": "failed",
                "code": too_many.code,
            }

        # Old chunks go and new ones arrive in this one transaction: readers
        # see either the previous content's chunks or the new ones, never a
        # mix, and a rerun of this step cannot duplicate them.
        Chunk.objects.filter(
            workspace_id=workspace_id, document_id=document_id
        ).delete()
        Chunk.objects.bulk_create(
            Chunk(
                workspace_id=workspace_id,
                document_id=document_id,
                chunk_index=chunk.index,
                content=chunk.content,
                metadata=chunk.metadata,
            )
            for chunk in chunks
        )
        document.chunk_count = len(chunks)
        _stage_done(
            document,
            "chunking",
            chunks=len(chunks),
            chunk_size=chunk_settings.size,
            chunk_overlap=chunk_settings.overlap,
        )
        document.stages = {
            **document.stages,
            "embedding": {"state": "pending"},
            "graph": {"state": "pending"},
        }
        document.status = DocumentStatus.EMBEDDING
        document.progress = 20
        document.attempts = 0
        save_touched(
            document, "stages", "status", "progress", "attempts", "chunk_count"
        )
        dispatch_embed(workspace_id=workspace_id, document_id=document_id)

    logger.info(
        "document %s of workspace %s parsed into %s chunks",
        document_id,
        workspace_id,
        len(chunks),
    )
    return {"document_id": str(document_id), "state": "chunked", "chunks": len(chunks)}


# --- Embed and graph ---------------------------------------------------------


def _stale_chunks(
    workspace_id: uuid.UUID, document_id: uuid.UUID, provider: EmbeddingProvider
) -> Q:
    return Q(workspace_id=workspace_id, document_id=document_id) & (
        Q(embedding__isnull=True) | ~Q(embedding_model=provider.name)
    )


def chunks_embed(*, chunks: list[Chunk], provider: EmbeddingProvider) -> int:
    """Embed ``chunks`` (outside any transaction) and store the vectors.

    Returns the tokens the provider reports. The caller holds no transaction
    while the provider works, and the write is one short transaction.
    """
    batch = provider.embed([chunk.content for chunk in chunks])
    counts = batch.token_counts
    for position, chunk in enumerate(chunks):
        chunk.embedding = batch.vectors[position]
        chunk.embedding_model = provider.name
        if counts is not None:
            chunk.token_count = counts[position]
    return batch.tokens


def document_embed_run(
    *,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    count_attempt: bool = True,
    provider: EmbeddingProvider | None = None,
) -> dict[str, Any]:
    """Embed a chunked document in batches, run the graph step, mark it ready.

    Returns the tokens embedded by this run (``tokens``) for the caller to
    meter; Atrium's billing is not written here.
    """
    provider = provider or get_provider()
    result: dict[str, Any] = {
        "document_id": str(document_id),
        "model": provider.name,
        "chunks": 0,
        "tokens": 0,
    }
    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.status not in EMBED_STATUSES:
            return {**result, "state": document.status if document else "missing"}
        refused = _count_attempt(document, count=count_attempt)
        if refused:
            _stage_fail(document, current_stage(document), refused)
            save_touched(document, "stages", "status", "error", "attempts")
            return {**result, "state": document.status}
        if document.status == DocumentStatus.EMBEDDING:
            entry = document.stages.get("embedding") or {}
            if entry.get("state") != "running":
                _stage_start(document, "embedding", DocumentStatus.EMBEDDING, 20)
        save_touched(document, "stages", "status", "progress", "attempts")
        content_hash = document.content_hash
        embedding = document.status == DocumentStatus.EMBEDDING

    while embedding:
        with as_workspace(workspace_id):
            pending = list(
                Chunk.objects.filter(_stale_chunks(workspace_id, document_id, provider))
                .only("id", "content", "chunk_index")
                .order_by("chunk_index")[: settings.ATRIUM_EMBEDDING_BATCH_SIZE]
            )
        if not pending:
            break
        embed_started = time.perf_counter()
        tokens = chunks_embed(chunks=pending, provider=provider)
        embed_ms = round((time.perf_counter() - embed_started) * 1000)
        with as_workspace(workspace_id):
            document = _locked(workspace_id, document_id)
            if (
                document is None
                or document.content_hash != content_hash
                or document.status != DocumentStatus.EMBEDDING
            ):
                return {**result, "state": "superseded"}
            Chunk.objects.bulk_update(
                pending, ["embedding", "embedding_model", "token_count"]
            )
            stale = Chunk.objects.filter(
                _stale_chunks(workspace_id, document_id, provider)
            ).count()
            total = max(document.chunk_count, 1)
            entry = dict(document.stages.get("embedding") or {})
            entry["tokens"] = int(entry.get("tokens", 0)) + tokens
            entry["embedded"] = document.chunk_count - stale
            entry["model"] = provider.name
            document.stages = {**document.stages, "embedding": entry}
            document.progress = 20 + (70 * (document.chunk_count - stale)) // total
            save_touched(document, "stages", "progress")
            # Metered with the batch it pays for, when that batch commits: a
            # redelivered task does not embed (or bill) a batch twice.
            usage_record(
                workspace=document.workspace,
                event_type="ingest",
                input_tokens=tokens,
                model_name=provider.name,
                user_id=document.created_by_id,
                api_key_id=document.created_by_api_key_id,
                is_test=getattr(document.created_by_api_key, "environment", "")
                == "test",
                latency_ms=embed_ms,
            )
        result["chunks"] += len(pending)
        result["tokens"] += tokens

    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.content_hash != content_hash:
            return {**result, "state": "superseded"}
        if document.status == DocumentStatus.EMBEDDING:
            _stage_done(document, "embedding")
            _stage_start(document, "graph", DocumentStatus.GRAPH, 90)
            save_touched(document, "stages", "status", "progress")
        elif document.status != DocumentStatus.GRAPH:
            return {**result, "state": document.status}

    graph = graph_step.graph_step(workspace_id=workspace_id, document_id=document_id)

    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.content_hash != content_hash:
            return {**result, "state": "superseded"}
        if document.status != DocumentStatus.GRAPH:
            return {**result, "state": document.status}
        if isinstance(graph, IngestionError):
            _stage_fail(document, "graph", graph)
            save_touched(document, "stages", "status", "error")
            return {**result, "state": "failed"}
        entry = dict(document.stages.get("graph") or {})
        entry.update(graph, finished=_now())
        document.stages = {**document.stages, "graph": entry}
        document.status = DocumentStatus.READY
        document.progress = 100
        document.attempts = 0
        document.error = ""
        document.ingested_at = timezone.now()
        save_touched(
            document, "stages", "status", "progress", "attempts", "error", "ingested_at"
        )
        event_emit(
            workspace_id=workspace_id,
            type="document.ready",
            data={
                "document_id": str(document.pk),
                "title": document.title,
                "content_type": document.content_type,
                "chunk_count": document.chunk_count,
                "ingested_at": document.ingested_at.isoformat(),
            },
        )

    logger.info(
        "document %s of workspace %s ready (%s chunks embedded, %s tokens)",
        document_id,
        workspace_id,
        result["chunks"],
        result["tokens"],
    )
    return {**result, "state": "ready"}
