"""Embeddings from OpenAI or any server speaking its ``/v1/embeddings`` API.

Uses the official ``openai`` SDK pointed at a base URL, so vLLM, Ollama,
llama.cpp or a gateway work the same way. The SDK retries 429 and 5xx
answers itself (``max_retries``, with back-off and ``Retry-After``); what
still fails becomes an :class:`EmbeddingError` whose message names the
status, never the response body or the key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import openai

from knowledge.embeddings.base import EmbeddingBatch, EmbeddingError

logger = logging.getLogger(__name__)


class OpenAICompatibleProvider:
    def __init__(
        self,
        *,
        model: str,
        base_url: str | None,
        api_key: str,
        dimensions: int,
        timeout: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self.name = f"openai:{model}"
        self.model = model
        self.dimensions = dimensions
        self._client = openai.OpenAI(
            base_url=base_url,
            # Local servers often need no key; the SDK insists on one.
            api_key=api_key or "unused",
            timeout=timeout,
            max_retries=max_retries,
        )

    def embed(self, texts: Sequence[str]) -> EmbeddingBatch:
        if not texts:
            return EmbeddingBatch(vectors=[], tokens=0)
        try:
            response = self._client.embeddings.create(
                model=self.model, input=list(texts), encoding_format="float"
            )
        except openai.RateLimitError as error:
            raise EmbeddingError(
                "rate_limited",
                "The embedding provider is rate-limiting.",
                retryable=True,
            ) from error
        except openai.APIStatusError as error:
            status = error.status_code
            logger.warning("embedding provider answered HTTP %s", status)
            raise EmbeddingError(
                "provider_error",
                f"The embedding provider answered HTTP {status}.",
                retryable=status >= 500 or status in (408, 409),
            ) from error
        except (openai.APIConnectionError, openai.APITimeoutError) as error:
            raise EmbeddingError(
                "provider_unavailable",
                "The embedding provider could not be reached.",
                retryable=True,
            ) from error

        data = sorted(response.data, key=lambda item: item.index)
        vectors = [list(item.embedding) for item in data]
        if len(vectors) != len(texts):
            raise EmbeddingError(
                "bad_response",
                f"The embedding provider returned {len(vectors)} vectors "
                f"for {len(texts)} texts.",
                retryable=False,
            )
        if any(len(vector) != self.dimensions for vector in vectors):
            raise EmbeddingError(
                "dimension_mismatch",
                f"The embedding provider's vectors are not {self.dimensions}-"
                "dimensional (ATRIUM_EMBEDDING_DIMENSIONS).",
                retryable=False,
            )
        tokens = response.usage.prompt_tokens if response.usage else 0
        return EmbeddingBatch(vectors=vectors, tokens=tokens)
