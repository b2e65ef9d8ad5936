"""Which formats Atrium accepts, and proof that a file is what it claims.

The extension names the format; the first bytes must agree with it. A file
that says ``.pdf`` but starts like a zip, or ``.txt`` holding a binary, is
refused before anything is stored.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

from knowledge.ingestion.errors import IngestionError

TEXT = "text"
MARKDOWN = "markdown"
HTML = "html"
PDF = "pdf"
DOCX = "docx"

FORMATS_BY_EXTENSION = {
    ".txt": TEXT,
    ".text": TEXT,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".html": HTML,
    ".htm": HTML,
    ".pdf": PDF,
    ".docx": DOCX,
}
CONTENT_TYPES = {
    TEXT: "text/plain",
    MARKDOWN: "text/markdown",
    HTML: "text/html",
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
# The extension the stored copy gets: one per format, never the client's.
STORED_EXTENSIONS = {
    TEXT: ".txt",
    MARKDOWN: ".md",
    HTML: ".html",
    PDF: ".pdf",
    DOCX: ".docx",
}
# Office formats that can carry VBA macros; refused by name before sniffing.
MACRO_EXTENSIONS = frozenset({".docm", ".dotm", ".xlsm", ".pptm", ".xltm", ".potm"})

_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# OOXML files protected with a password are OLE containers holding this stream.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\x7fELF",
    b"\x1f\x8b",
    b"MZ",
    b"Rar!",
    b"7z\xbc\xaf",
    _ZIP,
    _OLE,
)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")
MAX_SOURCE_NAME = 255


def sniff(data: bytes) -> str:
    """Name the kind of content ``data`` starts with: pdf, zip, ole, binary, text."""
    head = data[:8192]
    # The PDF header may follow a few junk bytes; readers accept it in the
    # first kilobyte, and so does this.
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(_ZIP):
        return "zip"
    if head.startswith(_OLE):
        return "ole"
    if head.startswith(_BINARY_MAGIC):
        return "binary"
    bom_utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    if b"\x00" in head and not bom_utf16:
        return "binary"
    return "text"


def source_name(name: str) -> str:
    """Reduce a client's file name to a harmless label kept as metadata only.

    Directory parts (``../``, ``C:\\``), control characters and NUL go; the
    result is never used as a storage path.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = _UNSAFE_NAME.sub("", name).replace("\\", "/")
    name = PurePosixPath(name).name.strip().lstrip(".") or "document"
    if len(name) > MAX_SOURCE_NAME:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: MAX_SOURCE_NAME - len(suffix)] + suffix
    return name


def detect_format(*, filename: str, data: bytes) -> str:
    """Return the format of an upload, or raise why it is refused."""
    suffix = PurePosixPath(source_name(filename)).suffix.lower()
    if suffix in MACRO_EXTENSIONS:
        raise IngestionError(
            "macro_document", "Macro-enabled Office files are not accepted."
        )
    fmt = FORMATS_BY_EXTENSION.get(suffix)
    if fmt is None:
        accepted = ", ".join(sorted(FORMATS_BY_EXTENSION))
        raise IngestionError(
            "unsupported_type", f"Unsupported file type; accepted: {accepted}."
        )
    if not data:
        raise IngestionError("empty_file", "The file is empty.")

    kind = sniff(data)
    if fmt == DOCX and kind == "ole" and _ENCRYPTED_PACKAGE in data[:65536]:
        raise IngestionError("encrypted_file", "The document is password-protected.")
    expected = {PDF: "pdf", DOCX: "zip"}.get(fmt, "text")
    if kind != expected:
        raise IngestionError(
            "type_mismatch",
            f"The file's content does not match its {suffix} extension.",
        )
    return fmt
