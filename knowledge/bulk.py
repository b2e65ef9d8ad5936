"""Bulk ingestion: many files, or a zip archive of them, as one job.

Archives get the same guards as DOCX files (entry count, declared total
size, compression ratio, no absolute or ``..`` names) before anything is
inflated; each entry is then read with a size bound and goes through
``document_create`` like a single upload. The job records each file's
outcome; the documents' own stages say how ingestion goes. The new
documents are queued per organization, a few at a time
(knowledge/ingestion/fairness.py).
"""

from __future__ import annotations

import io
import logging
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import transaction

from knowledge import services
from knowledge.ingestion import fairness
from knowledge.ingestion.archives import ArchiveLimits, unsafe_name
from knowledge.ingestion.errors import IngestionError
from knowledge.models import Document, IngestJob
from tenancy import quotas
from tenancy.models import APIKey, Organization, Workspace
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

ARCHIVE_EXTENSIONS = (".zip",)


@dataclass(frozen=True)
class Upload:
    name: str
    file: IO[bytes]


def documents_quota_check(*, workspace: Workspace) -> None:
    """Refuse one more document past the plan; call inside the creating transaction.

    Locks the workspace row so concurrent uploads cannot both take the last
    slot. Documents created earlier in the same transaction (the other files
    of one request) are already counted.
    """
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    organization = Organization.objects.get(pk=workspace.organization_id)
    current = Document.objects.filter(workspace=workspace).count()
    quotas.check_limit(
        organization,
        limit="documents_per_workspace",
        current=current,
    )


def document_create_within_plan(
    *, workspace: Workspace, **fields: Any
) -> services.DocumentCreateResult:
    """``document_create`` after checking the plan's document limit."""
    with transaction.atomic():
        documents_quota_check(workspace=workspace)
        return services.document_create(workspace=workspace, **fields)


def archive_entries(upload: Upload) -> Iterator[tuple[str, bytes]]:
    """Yield (name, bytes) of each file in a zip, after checking the whole zip."""
    limits = ArchiveLimits(total_uncompressed=int(settings.ATRIUM_ARCHIVE_MAX_BYTES))
    try:
        archive = zipfile.ZipFile(upload.file)
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise IngestionError(
            "corrupt_file", "The archive is not a valid zip."
        ) from error
    with archive:
        entries = [e for e in archive.infolist() if not e.is_dir()]
        if len(entries) > limits.entries:
            raise IngestionError(
                "archive_bomb", f"The archive holds more than {limits.entries} files."
            )
        total = sum(e.file_size for e in entries)
        packed = sum(e.compress_size for e in entries) or 1
        if total > limits.total_uncompressed or total / packed > limits.ratio:
            raise IngestionError(
                "archive_bomb", "The archive inflates too much to be unpacked."
            )
        if any(unsafe_name(e.filename) for e in entries):
            raise IngestionError(
                "archive_bomb", "The archive names files outside itself."
            )
        if any(e.flag_bits & 0x1 for e in entries):
            raise IngestionError("encrypted_file", "The archive is encrypted.")
        for entry in entries:
            # Bounded by the declared sizes checked above.
            with archive.open(entry) as member:
                yield PurePosixPath(entry.filename).name, member.read()


def _one(
    *,
    workspace: Workspace,
    name: str,
    file: IO[bytes],
    actor: Any,
    api_key: APIKey | None,
) -> dict[str, Any]:
    if name.lower().endswith(ARCHIVE_EXTENSIONS):
        return {
            "name": name,
            "code": "unsupported_type",
            "message": "Archives inside archives are not unpacked.",
        }
    try:
        result = document_create_within_plan(
            workspace=workspace,
            file=file,
            filename=name,
            created_by=actor,
            created_by_api_key=api_key,
            dispatch=False,
        )
    except IngestionError as error:
        return {"name": name, "code": error.code, "message": error.message}
    return {
        "name": name,
        "document_id": str(result.document.pk),
        "created": result.created,
    }


@transaction.atomic
def ingest_job_create(
    *,
    workspace: Workspace,
    uploads: list[Upload],
    created_by: Any = None,
    created_by_api_key: APIKey | None = None,
) -> IngestJob:
    """Accept each file (archives unpacked) and record what became of it.

    A plan limit reached part-way stops the job: files after it are not
    taken, and the error propagates (nothing of the job is kept).
    """
    files: list[dict[str, Any]] = []

    def take(name: str, file: IO[bytes]) -> None:
        outcome = _one(
            workspace=workspace,
            name=name,
            file=file,
            actor=created_by,
            api_key=created_by_api_key,
        )
        files.append(outcome)

    for upload in uploads:
        if upload.name.lower().endswith(ARCHIVE_EXTENSIONS):
            try:
                for name, data in archive_entries(upload):
                    take(name, io.BytesIO(data))
            except IngestionError as error:
                files.append(
                    {"name": upload.name, "code": error.code, "message": error.message}
                )
        else:
            take(upload.name, upload.file)

    created = sum(1 for outcome in files if outcome.get("created"))
    # Admitted to the ingest queue a few at a time per organization, once
    # this transaction commits, so a large job cannot starve other
    # organizations' uploads.
    fairness.bulk_enqueue(
        organization_id=workspace.organization_id,
        documents=[
            (workspace.pk, uuid.UUID(outcome["document_id"]))
            for outcome in files
            if outcome.get("created")
        ],
    )
    job = IngestJob.objects.create(
        workspace=workspace,
        files=files,
        created_by=created_by,
        created_by_api_key=created_by_api_key,
    )
    audit_record(
        action="ingest_job.create",
        organization_id=workspace.organization_id,
        workspace_id=workspace.pk,
        target=job,
        metadata={"files": len(files), "documents": created},
    )
    logger.info(
        "ingest job %s in workspace %s: %s files, %s new documents",
        job.pk,
        workspace.pk,
        len(files),
        created,
    )
    return job
