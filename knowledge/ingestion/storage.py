"""Where uploaded files are kept: under generated names, never the client's."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from knowledge.ingestion.errors import IngestionError
from knowledge.ingestion.formats import STORED_EXTENSIONS
from tenancy.storage import StorageError

logger = logging.getLogger(__name__)


def _unavailable() -> IngestionError:
    return IngestionError(
        "storage_unavailable", "The document store could not be reached; try again."
    )


def workspace_directory(workspace_id: uuid.UUID) -> str:
    """Where the workspace's originals are kept, and nothing else."""
    return f"documents/{workspace_id}"


def workspace_files(workspace_id: uuid.UUID) -> list[str]:
    """The names of every file in the workspace's directory, sorted."""
    directory = workspace_directory(workspace_id)
    try:
        _, names = default_storage.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(f"{directory}/{name}" for name in names)


def stored_name(*, workspace_id: uuid.UUID, fmt: str) -> str:
    """A fresh path for a file: workspace directory, random name, format suffix."""
    name = f"{uuid.uuid4().hex}{STORED_EXTENSIONS[fmt]}"
    return f"{workspace_directory(workspace_id)}/{name}"


def file_save(*, workspace_id: uuid.UUID, fmt: str, data: bytes) -> str:
    """Write ``data`` under a generated name and return the name.

    Raises ``storage_unavailable`` when the storage refuses the write.
    """
    try:
        return default_storage.save(
            stored_name(workspace_id=workspace_id, fmt=fmt), ContentFile(data)
        )
    except OSError as error:
        logger.error(
            "could not store an original of workspace %s: %s", workspace_id, error
        )
        raise _unavailable() from None


def file_read(name: str) -> bytes:
    """The stored file's bytes.

    A file that is not there raises ``OSError`` (``FileNotFoundError``);
    object storage that refuses or cannot be reached, ``storage_unavailable``.
    """
    try:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    except StorageError as error:
        logger.error("could not read stored file %s: %s", name, error)
        raise _unavailable() from None


def file_modified(name: str) -> datetime:
    return default_storage.get_modified_time(name)


def file_delete(name: str) -> None:
    """Remove a stored file; a file already gone is not an error."""
    if not name:
        return
    try:
        default_storage.delete(name)
    except OSError as error:
        logger.warning("could not delete stored document file %s: %s", name, error)
