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
  committing batch by batch; a rerun picks up where the last one stopped.
  A batch the document cannot fill is topped up with waiting chunks of other
  documents of the same workspace (a bulk upload of small files embeds in
  full batches); each vector is written only if its chunk still lacks one,
  and each document is metered for what was written for it;
- the graph task runs after the embedding stage has committed, so the
  document is already vector-searchable while its graph is built, on a
  queue of its own;
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
from django.db.models import Count, Q
from django.utils import timezone

from billing.services import usage_record
from knowledge.embeddings import EmbeddingProvider, get_provider
from knowledge.ingestion import fairness, graph_step, parsers, storage
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
# Statuses the ingest task works on; the embed and graph tasks take the rest.
INGEST_STATUSES = (
    DocumentStatus.QUEUED,
    DocumentStatus.PARSING,
    DocumentStatus.CHUNKING,
)
EMBED_STATUSES = (DocumentStatus.EMBEDDING,)
GRAPH_STATUSES = (DocumentStatus.GRAPH,)


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


def _metered_as(document: Document) -> dict[str, Any]:
    """Who a document's usage events are attributed to: its uploader."""
    return {
        "workspace": document.workspace,
        "user_id": document.created_by_id,
        "api_key_id": document.created_by_api_key_id,
        "is_test": getattr(document.created_by_api_key, "environment", "") == "test",
    }


def _stage_fail(document: Document, stage: str, error: IngestionError) -> None:
    entry = dict(document.stages.get(stage) or {})
    entry.update(state="failed", finished=_now(), error=error.message, code=error.code)
    document.stages = {**document.stages, stage: entry}
    _stage_observe(stage, entry, "failed")
    document.status = DocumentStatus.FAILED
    document.error = str(error)
    # Usage shows failed ingestions beside the others; the tokens a failed
    # document embedded before it failed were metered as they committed.
    usage_record(
        **_metered_as(document),
        event_type="ingest",
        success=False,
        error_code=error.code,
    )
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


def dispatch_graph(*, workspace_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Queue the graph task once the current transaction commits."""
    from knowledge import tasks

    transaction.on_commit(
        lambda: tasks.graph_document.delay(str(workspace_id), str(document_id))
    )


def dispatch_for_status(*, document: Document) -> None:
    """Queue whichever task moves ``document`` on from its status."""
    if document.status in GRAPH_STATUSES:
        dispatch_graph(workspace_id=document.workspace_id, document_id=document.id)
    elif document.status in EMBED_STATUSES:
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
        # What the uploader gave wins; the keys the parser adds are recorded
        # so that a new version of the content can drop them (services). A
        # parse run again (a redelivered task) finds its own keys recorded.
        earlier = (document.stages.get("parsing") or {}).get("metadata_keys", [])
        uploaders = set(document.metadata) - set(earlier)
        added = sorted(set(parsed.metadata) - uploaders)
        document.metadata = {**parsed.metadata, **document.metadata}
        _stage_done(
            document, "parsing", characters=len(parsed.text), metadata_keys=added
        )
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


# --- Embed --------------------------------------------------------------------


def _stale_chunks(
    workspace_id: uuid.UUID, document_id: uuid.UUID, provider: EmbeddingProvider
) -> Q:
    return Q(workspace_id=workspace_id, document_id=document_id) & (
        Q(embedding__isnull=True) | ~Q(embedding_model=provider.name)
    )


def _stale_in_workspace(workspace_id: uuid.UUID, provider: EmbeddingProvider) -> Q:
    return Q(workspace_id=workspace_id) & (
        Q(embedding__isnull=True) | ~Q(embedding_model=provider.name)
    )


def _embed(chunks: list[Chunk], provider: EmbeddingProvider) -> tuple[int, bool]:
    """Embed ``chunks`` in one call; (tokens, whether counted per chunk)."""
    batch = provider.embed([chunk.content for chunk in chunks])
    counts = batch.token_counts
    for position, chunk in enumerate(chunks):
        chunk.embedding = batch.vectors[position]
        chunk.embedding_model = provider.name
        if counts is not None:
            chunk.token_count = counts[position]
    return batch.tokens, counts is not None


def chunks_embed(*, chunks: list[Chunk], provider: EmbeddingProvider) -> int:
    """Embed ``chunks`` (outside any transaction) and store the vectors.

    Returns the tokens the provider reports. The caller holds no transaction
    while the provider works, and the write is one short transaction.
    """
    return _embed(chunks, provider)[0]


_PENDING_FIELDS = ("id", "content", "chunk_index", "document_id", "token_count")


def _batch_pending(
    workspace_id: uuid.UUID, document_id: uuid.UUID, provider: EmbeddingProvider
) -> list[Chunk]:
    """The document's next chunks to embed, topped up from its workspace.

    Other documents waiting in the embedding stage fill what the document
    leaves of the batch (oldest first), so many small documents embed in
    full batches instead of one short batch each.
    """
    size = int(settings.ATRIUM_EMBEDDING_BATCH_SIZE)
    pending = list(
        Chunk.objects.filter(_stale_chunks(workspace_id, document_id, provider))
        .only(*_PENDING_FIELDS)
        .order_by("chunk_index")[:size]
    )
    if not pending or len(pending) >= size:
        return pending
    others = (
        Chunk.objects.filter(
            _stale_in_workspace(workspace_id, provider),
            document__status=DocumentStatus.EMBEDDING,
        )
        .exclude(document_id=document_id)
        .only(*_PENDING_FIELDS)
        .order_by("document__created_at", "document_id", "chunk_index")
    )
    return pending + list(others[: size - len(pending)])


def _tokens_by_document(
    batch: list[Chunk], written: set[uuid.UUID], tokens: int, counted: bool
) -> dict[uuid.UUID, int]:
    """The tokens of the written chunks of a batch, per document.

    Uncounted (a provider reporting only the batch total), the total is
    shared by characters, rounded so that the shares add up to it.
    """
    shares: dict[uuid.UUID, int] = {}
    characters = sum(len(chunk.content) for chunk in batch) or 1
    seen = given = 0
    for chunk in batch:
        seen += len(chunk.content)
        share = chunk.token_count if counted else tokens * seen // characters - given
        given += share
        if chunk.id in written:
            shares[chunk.document_id] = shares.get(chunk.document_id, 0) + share
    return shares


def _vectors_store(
    *,
    workspace_id: uuid.UUID,
    chunks: list[Chunk],
    tokens: int,
    counted: bool,
    provider: EmbeddingProvider,
    own: tuple[uuid.UUID, str],
    latency_ms: int,
) -> tuple[bool, int, int]:
    """Write a batch's vectors for the documents still embedding; meter them.

    Call inside the workspace's context. Documents are locked in id order
    (no deadlock between two batches sharing documents). A chunk that got a
    vector meanwhile, or whose document moved on (re-ingested, deleted,
    failed), is not written nor billed. Another document whose last chunk
    this batch embedded finishes its embedding stage here.

    Returns (own document still embedding, its chunks written, its tokens).
    """
    own_id, own_hash = own
    documents = list(
        Document.objects.select_for_update(of=("self",))
        .select_related("workspace", "created_by_api_key")
        .filter(
            workspace_id=workspace_id,
            id__in={chunk.document_id for chunk in chunks},
            status=DocumentStatus.EMBEDDING,
        )
        .order_by("id")
    )
    live = {d.id: d for d in documents if d.id != own_id or d.content_hash == own_hash}
    still_stale = set(
        Chunk.objects.filter(
            _stale_in_workspace(workspace_id, provider),
            id__in=[c.id for c in chunks if c.document_id in live],
        ).values_list("id", flat=True)
    )
    written = [chunk for chunk in chunks if chunk.id in still_stale]
    Chunk.objects.bulk_update(written, ["embedding", "embedding_model", "token_count"])
    shares = _tokens_by_document(chunks, still_stale, tokens, counted)
    left = dict(
        Chunk.objects.filter(
            _stale_in_workspace(workspace_id, provider), document_id__in=list(live)
        )
        .order_by()
        .values("document_id")
        .annotate(n=Count("id"))
        .values_list("document_id", "n")
    )
    for document in live.values():
        document_tokens = shares.get(document.id, 0)
        stale = left.get(document.id, 0)
        entry = dict(document.stages.get("embedding") or {})
        entry["tokens"] = int(entry.get("tokens", 0)) + document_tokens
        entry["embedded"] = document.chunk_count - stale
        entry["model"] = provider.name
        document.stages = {**document.stages, "embedding": entry}
        total = max(document.chunk_count, 1)
        document.progress = 20 + (70 * (document.chunk_count - stale)) // total
        if stale == 0 and document.id != own_id:
            # Its own embed task will find it moved on and stop.
            _embedding_finish(document)
        else:
            save_touched(document, "stages", "progress")
        if document.id in shares:
            # Metered with the vectors it pays for, when they commit: a
            # redelivered task does not embed (or bill) a chunk twice.
            usage_record(
                **_metered_as(document),
                event_type="ingest",
                input_tokens=document_tokens,
                model_name=provider.name,
                # The model's time for the whole batch this share came in.
                latency_ms=latency_ms,
            )
    mine = [chunk for chunk in written if chunk.document_id == own_id]
    return own_id in live, len(mine), shares.get(own_id, 0)


def _embedding_finish(document: Document) -> None:
    """Close the embedding stage: the document is now vector-searchable.

    With a graph, the graph task takes over on its own queue (a bulk job's
    document first waits its organization's turn for it, fairness.py);
    without one, the stage is recorded skipped and the document is ready at
    once.
    """
    _stage_done(document, "embedding")
    if graph_step.graph_enabled():
        _stage_start(document, "graph", DocumentStatus.GRAPH, 90)
        save_touched(document, "stages", "status", "progress")
        fairness.graph_enqueue(
            workspace_id=document.workspace_id, document_id=document.id
        )
        return
    entry = {**graph_step.GRAPH_SKIPPED, "finished": _now()}
    document.stages = {**document.stages, "graph": entry}
    _ready(document)


def _ready(document: Document) -> None:
    document.status = DocumentStatus.READY
    document.progress = 100
    document.attempts = 0
    document.error = ""
    document.ingested_at = timezone.now()
    save_touched(
        document, "stages", "status", "progress", "attempts", "error", "ingested_at"
    )
    event_emit(
        workspace_id=document.workspace_id,
        type="document.ready",
        data={
            "document_id": str(document.pk),
            "title": document.title,
            "content_type": document.content_type,
            "chunk_count": document.chunk_count,
            "ingested_at": document.ingested_at.isoformat(),
        },
    )


def document_embed_run(
    *,
    workspace_id: uuid.UUID,
    document_id: uuid.UUID,
    count_attempt: bool = True,
    provider: EmbeddingProvider | None = None,
) -> dict[str, Any]:
    """Embed a chunked document in batches and close its embedding stage.

    Then the graph task is queued (or, with no graph, the document is
    ready). Returns what this run embedded for the document (``chunks``,
    ``tokens``); billing is recorded per document as each batch commits.
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
        entry = document.stages.get("embedding") or {}
        if entry.get("state") != "running":
            _stage_start(document, "embedding", DocumentStatus.EMBEDDING, 20)
        save_touched(document, "stages", "status", "progress", "attempts")
        own = (document_id, document.content_hash)

    while True:
        with as_workspace(workspace_id):
            pending = _batch_pending(workspace_id, document_id, provider)
        if not pending:
            break
        embed_started = time.perf_counter()
        tokens, counted = _embed(pending, provider)
        embed_ms = round((time.perf_counter() - embed_started) * 1000)
        with as_workspace(workspace_id):
            embedding, chunks, own_tokens = _vectors_store(
                workspace_id=workspace_id,
                chunks=pending,
                tokens=tokens,
                counted=counted,
                provider=provider,
                own=own,
                latency_ms=embed_ms,
            )
        result["chunks"] += chunks
        result["tokens"] += own_tokens
        if not embedding:
            return {**result, "state": "superseded"}

    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.content_hash != own[1]:
            return {**result, "state": "superseded"}
        if document.status != DocumentStatus.EMBEDDING:
            return {**result, "state": document.status}
        _embedding_finish(document)
        state = document.status

    logger.info(
        "document %s of workspace %s embedded (%s chunks, %s tokens)",
        document_id,
        workspace_id,
        result["chunks"],
        result["tokens"],
    )
    return {**result, "state": state}


# --- Graph ---------------------------------------------------------------------


def document_graph_run(
    *, workspace_id: uuid.UUID, document_id: uuid.UUID, count_attempt: bool = True
) -> dict[str, Any]:
    """Build the document's part of the workspace graph and mark it ready.

    Runs on the graph queue after the embedding stage committed: the
    document's chunks are searchable while this works.
    """
    result: dict[str, Any] = {"document_id": str(document_id)}
    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.status not in GRAPH_STATUSES:
            return {**result, "state": document.status if document else "missing"}
        refused = _count_attempt(document, count=count_attempt)
        if refused:
            _stage_fail(document, "graph", refused)
            save_touched(document, "stages", "status", "error", "attempts")
            return {**result, "state": document.status}
        save_touched(document, "attempts")
        content_hash = document.content_hash

    graph = graph_step.graph_step(workspace_id=workspace_id, document_id=document_id)

    with as_workspace(workspace_id):
        document = _locked(workspace_id, document_id)
        if document is None or document.content_hash != content_hash:
            return {**result, "state": "superseded"}
        if document.status not in GRAPH_STATUSES:
            return {**result, "state": document.status}
        if isinstance(graph, IngestionError):
            _stage_fail(document, "graph", graph)
            save_touched(document, "stages", "status", "error")
            return {**result, "state": "failed"}
        entry = dict(document.stages.get("graph") or {})
        entry.update(graph, finished=_now())
        document.stages = {**document.stages, "graph": entry}
        _ready(document)

    logger.info("document %s of workspace %s ready", document_id, workspace_id)
    return {**result, "state": "ready"}
