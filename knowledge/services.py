"""Writes of workspace knowledge: documents in, documents out.

Each service runs in the caller's tenant context (a request's, or an
``as_workspace`` block), is atomic, writes its audit row in the same
transaction, and queues Celery work only after commit. The stages
themselves live in ``knowledge.ingestion.pipeline``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from knowledge.ingestion import archives, graph_step, pipeline, storage
from knowledge.ingestion.errors import IngestionError
from knowledge.ingestion.formats import (
    CONTENT_TYPES,
    DOCX,
    MARKDOWN,
    TEXT,
    detect_format,
    source_name,
)
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy.models import APIKey, Workspace
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

_READ_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class DocumentCreateResult:
    """The stored document, and whether this call created it (``False``: the
    same content was already in the workspace)."""

    document: Document
    created: bool


@transaction.atomic
def workspace_document_count_refresh(*, workspace_id: uuid.UUID | str) -> int:
    """Set the workspace's ``document_count`` from its documents; return it."""
    count = Document.objects.filter(workspace_id=workspace_id).count()
    Workspace.objects.filter(id=workspace_id).update(document_count=count)
    return count


def _read_limited(file: IO[bytes]) -> bytes:
    """Read an upload, refusing it as soon as it passes the size limit."""
    limit = settings.ATRIUM_UPLOAD_MAX_BYTES
    size = getattr(file, "size", None)
    if isinstance(size, int) and size > limit:
        raise _too_large(limit)
    blocks = []
    total = 0
    while block := file.read(_READ_BLOCK):
        total += len(block)
        if total > limit:
            raise _too_large(limit)
        blocks.append(block)
    return b"".join(blocks)


def _too_large(limit: int) -> IngestionError:
    return IngestionError("file_too_large", f"The file is larger than {limit} bytes.")


def _payload(
    *,
    file: IO[bytes] | None,
    filename: str,
    text: str | None,
    title: str,
    text_format: str,
) -> tuple[str, bytes]:
    """The name and bytes of an upload: a file, or text stored as a file."""
    if file is not None and text is None:
        return filename or str(getattr(file, "name", "") or ""), _read_limited(file)
    if text is not None and file is None:
        return _text_upload(text, title, text_format)
    raise ValueError("pass exactly one of file and text")


def document_upload_check(*, filename: str, data: bytes) -> str:
    """Validate an upload's name, size and content; return its format.

    Runs before anything is stored: refusals here leave no trace. Deeper
    problems (a corrupt PDF) surface in the parsing stage instead.
    """
    if len(data) > settings.ATRIUM_UPLOAD_MAX_BYTES:
        raise _too_large(settings.ATRIUM_UPLOAD_MAX_BYTES)
    fmt = detect_format(filename=filename, data=data)
    if fmt == DOCX:
        archives.docx_check(data)
    return fmt


def _text_upload(text: str, title: str, text_format: str) -> tuple[str, bytes]:
    if text_format not in (TEXT, MARKDOWN):
        raise IngestionError(
            "unsupported_type", "Text documents are 'text' or 'markdown'."
        )
    suffix = ".md" if text_format == MARKDOWN else ".txt"
    return f"{slugify(title)[:100] or 'document'}{suffix}", text.encode("utf-8")


def document_create(
    *,
    workspace: Workspace,
    file: IO[bytes] | None = None,
    filename: str = "",
    text: str | None = None,
    title: str = "",
    text_format: str = TEXT,
    metadata: dict[str, Any] | None = None,
    created_by: Any = None,
    created_by_api_key: APIKey | None = None,
    dispatch: bool = True,
) -> DocumentCreateResult:
    """Store an uploaded file (or ``text`` with a ``title``) and queue ingestion.

    ``dispatch=False`` leaves queueing to the caller (bulk jobs queue their
    documents fairly, knowledge/ingestion/fairness.py).

    Identical content (SHA-256 of the bytes) already in the workspace is not
    stored twice: the existing document is returned with ``created=False``.
    Raises :class:`IngestionError` for anything refused up front.
    """
    filename, data = _payload(
        file=file, filename=filename, text=text, title=title, text_format=text_format
    )
    fmt = document_upload_check(filename=filename, data=data)
    content_hash = hashlib.sha256(data).hexdigest()
    label = source_name(filename)

    existing = _by_hash(workspace_id=workspace.id, content_hash=content_hash)
    if existing is not None:
        return DocumentCreateResult(document=existing, created=False)

    # Should the caller's transaction roll back after this returns, the file
    # stays without a document until knowledge.tasks.ingest_sweep_orphan_files.
    stored = storage.file_save(workspace_id=workspace.id, fmt=fmt, data=data)
    try:
        with transaction.atomic():
            document = Document.objects.create(
                workspace=workspace,
                title=(title.strip() or PurePosixPath(label).stem or label)[:500],
                source=label if text is None else "",
                content_type=CONTENT_TYPES[fmt],
                file=stored,
                size_bytes=len(data),
                content_hash=content_hash,
                metadata={
                    **(metadata or {}),
                    "format": fmt,
                    "title_source": "user" if title.strip() else "file",
                },
                status=DocumentStatus.QUEUED,
                stages=pipeline.stages_initial(),
                created_by=created_by,
                created_by_api_key=created_by_api_key,
            )
            audit_record(
                action="document.create",
                organization_id=workspace.organization_id,
                workspace_id=workspace.id,
                target=document,
                metadata={"format": fmt, "size_bytes": len(data)},
            )
    except IntegrityError:
        # The same content arrived concurrently and won the unique index.
        storage.file_delete(stored)
        existing = _by_hash(workspace_id=workspace.id, content_hash=content_hash)
        if existing is None:
            raise
        return DocumentCreateResult(document=existing, created=False)
    except BaseException:
        storage.file_delete(stored)
        raise

    if dispatch:
        pipeline.dispatch_ingest(workspace_id=workspace.id, document_id=document.id)
    logger.info(
        "document %s created in workspace %s (%s, %s bytes)",
        document.id,
        workspace.id,
        fmt,
        len(data),
    )
    return DocumentCreateResult(document=document, created=True)


def _by_hash(*, workspace_id: uuid.UUID, content_hash: str) -> Document | None:
    return Document.objects.filter(
        workspace_id=workspace_id, content_hash=content_hash
    ).first()


def _document_locked(document: Document) -> Document:
    return Document.objects.select_for_update().get(
        workspace_id=document.workspace_id, id=document.id
    )


@transaction.atomic
def document_reingest(
    *,
    document: Document,
    file: IO[bytes] | None = None,
    filename: str = "",
    text: str | None = None,
    text_format: str = TEXT,
) -> DocumentCreateResult:
    """Replace a document's content and ingest it again.

    Unchanged content is a no-op (``created=False``). Otherwise the new file
    replaces the old one and the pipeline restarts; the old chunks stay
    searchable until the chunking stage swaps in the new ones in one
    transaction.
    """
    document = _document_locked(document)
    filename, data = _payload(
        file=file,
        filename=filename,
        text=text,
        title=document.title,
        text_format=text_format,
    )
    fmt = document_upload_check(filename=filename, data=data)
    content_hash = hashlib.sha256(data).hexdigest()
    if content_hash == document.content_hash:
        return DocumentCreateResult(document=document, created=False)
    other = _by_hash(workspace_id=document.workspace_id, content_hash=content_hash)
    if other is not None:
        raise IngestionError(
            "duplicate_content",
            f"The workspace already holds this content as document {other.id}.",
        )

    old_file = document.file.name
    stored = storage.file_save(workspace_id=document.workspace_id, fmt=fmt, data=data)
    transaction.on_commit(lambda: storage.file_delete(old_file))
    document.file = stored
    document.content_hash = content_hash
    document.size_bytes = len(data)
    document.content_type = CONTENT_TYPES[fmt]
    document.source = source_name(filename) if text is None else ""
    # What the old version's parser found (headings, author, language…)
    # does not describe the new one; the uploader's own keys stay.
    parsed_keys = set((document.stages.get("parsing") or {}).get("metadata_keys", []))
    document.metadata = {
        **{k: v for k, v in document.metadata.items() if k not in parsed_keys},
        "format": fmt,
    }
    document.status = DocumentStatus.QUEUED
    document.progress = 0
    document.stages = pipeline.stages_initial()
    document.error = ""
    document.attempts = 0
    document.save()
    audit_record(
        action="document.reingest",
        workspace_id=document.workspace_id,
        target=document,
        metadata={"format": fmt, "size_bytes": len(data)},
    )
    pipeline.dispatch_ingest(
        workspace_id=document.workspace_id, document_id=document.id
    )
    return DocumentCreateResult(document=document, created=True)


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete a document, its chunks and (after commit) its stored file."""
    document = _document_locked(document)
    workspace_id, document_id, file_name = (
        document.workspace_id,
        document.id,
        document.file.name,
    )
    Chunk.objects.filter(workspace_id=workspace_id, document_id=document_id).delete()
    document.delete()
    audit_record(
        action="document.delete",
        workspace_id=workspace_id,
        target=None,
        metadata={"document_id": str(document_id)},
    )
    transaction.on_commit(lambda: storage.file_delete(file_name))
    try:
        graph_delete = graph_step.graph_hook("delete_document")
    except ImportError:
        # Deleting the document must not depend on the graph module loading.
        logger.exception("graph episodes of document %s not deleted", document_id)
        graph_delete = None
    if graph_delete is not None:
        transaction.on_commit(
            lambda: graph_delete(workspace_id=workspace_id, document_id=document_id)
        )


@transaction.atomic
def document_retry(*, document: Document) -> Document:
    """Rerun a failed document from the stage that failed.

    The stages before it keep their results: a failed embedding does not
    parse again. Raises ``not_retryable`` unless the document has failed.
    """
    document = _document_locked(document)
    if document.status != DocumentStatus.FAILED:
        raise IngestionError("not_retryable", "Only a failed document can be retried.")
    failed = next(
        (
            s
            for s in pipeline.STAGES
            if document.stages.get(s, {}).get("state") == "failed"
        ),
        "parsing",
    )
    restart = pipeline.STAGES.index(failed)
    document.stages = {
        **document.stages,
        **{stage: {"state": "pending"} for stage in pipeline.STAGES[restart:]},
    }
    document.status = {
        "parsing": DocumentStatus.QUEUED,
        "chunking": DocumentStatus.QUEUED,
        "embedding": DocumentStatus.EMBEDDING,
        "graph": DocumentStatus.GRAPH,
    }[failed]
    document.error = ""
    document.attempts = 0
    document.save(update_fields=["stages", "status", "error", "attempts", "updated_at"])
    audit_record(
        action="document.retry",
        workspace_id=document.workspace_id,
        target=document,
        metadata={"stage": failed},
    )
    pipeline.dispatch_for_status(document=document)
    return document
