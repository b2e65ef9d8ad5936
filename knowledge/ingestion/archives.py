"""Checks on a DOCX (a zip) before any parser opens it.

A zip declares each entry's sizes in its directory; Python's ``zipfile``
never inflates an entry past its declared size, so checking the declared
sizes bounds the work a hostile archive can cause.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import defusedxml.ElementTree as SafeET

from knowledge.ingestion.errors import IngestionError

MAX_ENTRIES = 1000
MAX_TOTAL_UNCOMPRESSED = 50 * 1024 * 1024
MAX_RATIO = 100
_MACRO_PARTS = ("word/vbaproject.bin", "word/vbadata.xml")
_MACRO_CONTENT_TYPE = "macroenabled"


@dataclass(frozen=True)
class ArchiveLimits:
    entries: int = MAX_ENTRIES
    total_uncompressed: int = MAX_TOTAL_UNCOMPRESSED
    ratio: int = MAX_RATIO


def unsafe_name(name: str) -> bool:
    path = name.replace("\\", "/")
    return (
        path.startswith("/")
        or (len(path) > 1 and path[1] == ":")
        or ".." in PurePosixPath(path).parts
        or "\x00" in path
    )


def docx_check(data: bytes, *, limits: ArchiveLimits | None = None) -> None:
    """Refuse a DOCX that is a bomb, encrypted, macro-enabled or not a DOCX."""
    limits = limits or ArchiveLimits()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as error:
        raise IngestionError("corrupt_file", "The DOCX is not a valid zip.") from error

    with archive:
        entries = archive.infolist()
        if len(entries) > limits.entries:
            raise IngestionError(
                "archive_bomb", f"The DOCX holds more than {limits.entries} parts."
            )
        total = sum(entry.file_size for entry in entries)
        packed = sum(entry.compress_size for entry in entries)
        if total > limits.total_uncompressed:
            raise IngestionError(
                "archive_bomb", "The DOCX unpacks to more than the allowed size."
            )
        if packed and total / packed > limits.ratio:
            raise IngestionError(
                "archive_bomb", "The DOCX is compressed beyond a plausible ratio."
            )
        names = set()
        for entry in entries:
            if unsafe_name(entry.filename):
                raise IngestionError(
                    "archive_bomb", "The DOCX holds a part with an unsafe path."
                )
            if entry.flag_bits & 0x1:
                raise IngestionError("encrypted_file", "The DOCX is encrypted.")
            names.add(entry.filename.lower())

        if any(part in names for part in _MACRO_PARTS):
            raise IngestionError("macro_document", "The DOCX carries macros.")
        if "word/document.xml" not in names or "[content_types].xml" not in names:
            raise IngestionError("corrupt_file", "The zip is not a Word document.")
        _content_types_check(archive)


def _content_types_check(archive: zipfile.ZipFile) -> None:
    try:
        raw = archive.read("[Content_Types].xml")
        root = SafeET.fromstring(raw)
    except KeyError as error:
        raise IngestionError(
            "corrupt_file", "The DOCX has no content types part."
        ) from error
    except (SafeET.ParseError, ValueError, zipfile.BadZipFile) as error:
        # defusedxml's refusals (entities, DTDs) are ValueErrors too.
        raise IngestionError(
            "corrupt_file", "The DOCX's content types cannot be read."
        ) from error
    for element in root.iter():
        if _MACRO_CONTENT_TYPE in element.attrib.get("ContentType", "").lower():
            raise IngestionError("macro_document", "The DOCX carries macros.")
