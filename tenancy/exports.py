"""Workspace exports: a zip of everything a workspace holds, built by a task.

An admin asks (``export_request``); ``export_run`` builds the archive inside
the workspace's context from every registered exporter
(``tenancy.portability``), stores it under ``exports/<workspace>/`` and
records its checksum; the download is answered until ``expires_at``, after
which the sweeper deletes the file. The format is in docs/data.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import uuid
import zipfile
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from tenancy.context import as_workspace
from tenancy.data_models import ExportJob, ExportStatus
from tenancy.errors import AtriumError
from tenancy.models import Workspace
from tenancy.portability import ExportWriter, exporters
from tenancy.selectors import workspace_ids_for_system
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

FORMAT = "atrium-workspace-export"
FORMAT_VERSION = 1


class ExportNotReady(AtriumError):
    status = 409
    code = "export_not_ready"


class ExportExpired(AtriumError):
    status = 410
    code = "export_expired"


def export_directory(workspace_id: uuid.UUID) -> str:
    return f"exports/{workspace_id}/"


@transaction.atomic
def export_request(
    *, workspace: Workspace, actor_id: uuid.UUID | None, include_embeddings: bool
) -> ExportJob:
    """Ask for an export of ``workspace``; a task builds it after commit."""
    job = ExportJob.objects.create(
        workspace=workspace,
        requested_by_id=actor_id,
        include_embeddings=include_embeddings,
    )
    audit_record(
        action="workspace.export_requested",
        organization_id=workspace.organization_id,
        workspace_id=workspace.pk,
        target=job,
        metadata={"include_embeddings": include_embeddings},
    )
    from tenancy import tasks

    transaction.on_commit(
        lambda: tasks.export_build.delay(str(workspace.pk), str(job.pk))
    )
    return job


def _workspace_part(writer: ExportWriter) -> None:
    workspace = writer.workspace
    record = {
        "id": workspace.pk,
        "organization_id": workspace.organization_id,
        "name": workspace.name,
        "slug": workspace.slug,
        "description": workspace.description,
        "settings": workspace.settings,
        "created_at": workspace.created_at,
    }
    writer.file("workspace.json", json.dumps(record, default=str, indent=2).encode())


def _build(
    workspace_id: uuid.UUID, job: ExportJob, handle: IO[bytes]
) -> dict[str, int]:
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        workspace = Workspace.objects.get(pk=workspace_id)
        writer = ExportWriter(
            archive=archive,
            workspace=workspace,
            include_embeddings=job.include_embeddings,
        )
        _workspace_part(writer)
        for _name, exporter in exporters():
            exporter(writer)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "workspace_id": str(workspace_id),
            "export_id": str(job.pk),
            "created_at": timezone.now().isoformat(),
            "include_embeddings": job.include_embeddings,
            "counts": writer.counts,
            "files": writer.files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return writer.counts


def export_run(*, workspace_id: uuid.UUID, job_id: uuid.UUID) -> str:
    """Build the archive of a pending export job; returns the job's status.

    Reads the whole workspace in one transaction, so the archive is one
    consistent moment of it.
    """
    with as_workspace(workspace_id):
        job = ExportJob.objects.filter(workspace_id=workspace_id, pk=job_id).first()
        if job is None or job.status not in (
            ExportStatus.PENDING,
            ExportStatus.RUNNING,
        ):
            return job.status if job else "missing"
        job.status = ExportStatus.RUNNING
        job.save(update_fields=["status"])

    digest = hashlib.sha256()
    try:
        with tempfile.TemporaryFile() as handle:
            with as_workspace(workspace_id):
                counts = _build(workspace_id, job, handle)
            size = handle.tell()
            handle.seek(0)
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            handle.seek(0)
            name = default_storage.save(
                f"{export_directory(workspace_id)}{job_id}.zip", File(handle)
            )
    # Whatever broke the build, the job must say it failed rather than stay
    # "running" forever; the traceback goes to the log, not to the customer.
    except Exception:
        logger.exception("export %s of workspace %s failed", job_id, workspace_id)
        with as_workspace(workspace_id):
            ExportJob.objects.filter(workspace_id=workspace_id, pk=job_id).update(
                status=ExportStatus.FAILED,
                error="The export could not be built; try again.",
                finished_at=timezone.now(),
            )
        return ExportStatus.FAILED

    now = timezone.now()
    with as_workspace(workspace_id):
        ExportJob.objects.filter(workspace_id=workspace_id, pk=job_id).update(
            status=ExportStatus.READY,
            file_name=name,
            size_bytes=size,
            sha256=digest.hexdigest(),
            counts=counts,
            finished_at=now,
            expires_at=now + timedelta(seconds=settings.ATRIUM_EXPORT_TTL),
        )
    logger.info("export %s of workspace %s ready: %s bytes", job_id, workspace_id, size)
    return ExportStatus.READY


def export_file_open(*, job: ExportJob) -> IO[bytes]:
    """The archive of a ready, unexpired export, opened for reading."""
    if job.status == ExportStatus.EXPIRED or (
        job.expires_at is not None and job.expires_at <= timezone.now()
    ):
        raise ExportExpired("This export has expired; ask for a new one.")
    if job.status != ExportStatus.READY:
        raise ExportNotReady("The export is not ready yet.", status=job.status)
    return default_storage.open(job.file_name, "rb")


def exports_expire(*, workspace_id: uuid.UUID) -> int:
    """Delete the archives of the workspace's expired exports."""
    with as_workspace(workspace_id):
        expired = list(
            ExportJob.objects.filter(
                workspace_id=workspace_id,
                status=ExportStatus.READY,
                expires_at__lte=timezone.now(),
            )
        )
        for job in expired:
            default_storage.delete(job.file_name)
            job.status = ExportStatus.EXPIRED
            job.file_name = ""
            job.save(update_fields=["status", "file_name"])
    return len(expired)


def exports_expire_all() -> int:
    return sum(
        exports_expire(workspace_id=workspace_id)
        for workspace_id in workspace_ids_for_system()
    )
