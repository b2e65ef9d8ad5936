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
        "graph_budget_exceeded",
        "timeout",
        "storage_unavailable",
        "internal_error",
    }
)


# The HTTP status an API answers a refusal with; anything else is 400.
HTTP_STATUS = {
    "file_too_large": 413,
    "unsupported_type": 415,
    "type_mismatch": 415,
    "macro_document": 415,
    "duplicate_content": 409,
    "not_retryable": 409,
    "storage_unavailable": 503,
}


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

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"
