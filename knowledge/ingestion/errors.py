"""Why a document cannot be ingested, as stable codes clients can act on."""

from __future__ import annotations

# Every code an ingestion error can carry; the API and docs/ingestion.md list
# the same ones, so a client can switch on them.
ERROR_CODES = frozenset(
    {
        "unsupported_type",
        "type_mismatch",
        "macro_document",
        "file_too_large",
        "archive_bomb",
        "encrypted_file",
        "corrupt_file",
        "empty_file",
        "bad_encoding",
        "no_text",
        "too_many_pages",
        "too_many_chunks",
        "duplicate_content",
        "not_retryable",
        "too_many_attempts",
        "embedding_failed",
        "graph_failed",
        "timeout",
        "internal_error",
    }
)


class IngestionError(Exception):
    """A document Atrium refuses or cannot process, with a stable code.

    The message is safe to show the uploader: it never quotes document text.
    """

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown ingestion error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
