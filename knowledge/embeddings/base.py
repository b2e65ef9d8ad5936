"""The interface every embedding provider implements, and the configured one."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class EmbeddingBatch:
    """Vectors for a batch of texts, in order, and the tokens they cost.

    ``token_counts`` is per text when the provider reports it (the local
    model does; OpenAI-compatible servers report only the total).
    """

    vectors: list[list[float]]
    tokens: int
    token_counts: list[int] | None = None


class EmbeddingError(Exception):
    """A provider failure; ``retryable`` says whether trying later may help.

    The message never carries the provider's response body or credentials.
    """

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class EmbeddingProvider(Protocol):
    #: Stored with every chunk (``Chunk.embedding_model``); a change of name
    #: marks the chunks for re-embedding.
    name: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch: ...


@functools.cache
def _provider(
    kind: str,
    model: str,
    base_url: str,
    api_key: str,
    dimensions: int,
    timeout: float,
    max_retries: int,
) -> EmbeddingProvider:
    if kind == "local":
        from knowledge.embeddings.local import LocalMiniLMProvider

        provider: EmbeddingProvider = LocalMiniLMProvider()
    elif kind == "openai":
        from knowledge.embeddings.openai_compatible import OpenAICompatibleProvider

        provider = OpenAICompatibleProvider(
            model=model or "text-embedding-3-small",
            base_url=base_url or None,
            api_key=api_key,
            dimensions=dimensions,
            timeout=timeout,
            max_retries=max_retries,
        )
    else:
        raise ImproperlyConfigured(
            f"ATRIUM_EMBEDDING_PROVIDER must be 'local' or 'openai', not {kind!r}"
        )
    if provider.dimensions != dimensions:
        raise ImproperlyConfigured(
            f"the {kind} embedding model makes {provider.dimensions}-dimensional "
            f"vectors but ATRIUM_EMBEDDING_DIMENSIONS is {dimensions}"
        )
    return provider


def get_provider() -> EmbeddingProvider:
    """The deployment's embedding provider, built once per process."""
    return _provider(
        settings.ATRIUM_EMBEDDING_PROVIDER,
        settings.ATRIUM_EMBEDDING_MODEL,
        settings.ATRIUM_EMBEDDING_BASE_URL,
        settings.ATRIUM_EMBEDDING_API_KEY,
        settings.ATRIUM_EMBEDDING_DIMENSIONS,
        settings.ATRIUM_EMBEDDING_TIMEOUT,
        settings.ATRIUM_EMBEDDING_MAX_RETRIES,
    )
