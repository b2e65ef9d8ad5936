"""The model clients Graphiti runs with: embedder, reranker, and two LLMs.

- ``AtriumEmbedder`` embeds names and facts with Atrium's own embedding
  provider (``knowledge.embeddings``), so the graph needs no extra model.
- ``LocalReranker`` fills Graphiti's cross-encoder slot with a bi-encoder:
  cosine similarity of query and passage embeddings. Atrium's own search
  does not use it (``WorkspaceGraph.search`` scores with stored vectors).
- ``BoundedOpenAIClient`` is Graphiti's OpenAI-compatible client with its
  slow retry on bad JSON (4 attempts, 5-120 s apart) cut to
  ``ATRIUM_GRAPH_LLM_MAX_ATTEMPTS`` attempts a short pause apart, and stopword
  entity names removed from what the model extracts.
- ``OfflineLLMClient`` answers the one question ``add_triplet`` asks a model
  (is this fact a duplicate of, or contradicted by, these?) with "no" —
  exact duplicates are already merged by Graphiti without a model — and
  refuses every other prompt rather than invent an answer.
"""

from __future__ import annotations

import logging
import math
import typing
from collections.abc import Iterable

from graphiti_core.cross_encoder.client import CrossEncoderClient
from graphiti_core.embedder.client import EmbedderClient
from graphiti_core.llm_client.client import LLMClient
from graphiti_core.llm_client.config import DEFAULT_MAX_TOKENS, LLMConfig, ModelSize
from graphiti_core.llm_client.openai_generic_client import OpenAIGenericClient
from graphiti_core.prompts.models import Message
from pydantic import BaseModel
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_fixed,
)

from knowledge.embeddings import EmbeddingProvider, get_provider
from knowledge.graph.names import entity_name_valid

logger = logging.getLogger(__name__)


class AtriumEmbedder(EmbedderClient):
    """Graphiti's embedder over Atrium's configured embedding provider."""

    def __init__(self, provider: EmbeddingProvider | None = None) -> None:
        self.provider = provider or get_provider()

    async def create(
        self, input_data: str | list[str] | Iterable[int] | Iterable[Iterable[int]]
    ) -> list[float]:
        if isinstance(input_data, str):
            texts = [input_data]
        elif isinstance(input_data, list) and all(
            isinstance(t, str) for t in input_data
        ):
            texts = typing.cast(list[str], input_data)[:1]
        else:
            raise TypeError("AtriumEmbedder embeds text only, not token ids")
        return self.provider.embed(texts).vectors[0]

    async def create_batch(self, input_data_list: list[str]) -> list[list[float]]:
        if not input_data_list:
            return []
        return self.provider.embed(input_data_list).vectors


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors (0 when either is empty or zero)."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


class LocalReranker(CrossEncoderClient):
    """Rank passages by embedding similarity to the query (scores in 0-1)."""

    def __init__(self, embedder: AtriumEmbedder) -> None:
        self.embedder = embedder

    async def rank(self, query: str, passages: list[str]) -> list[tuple[str, float]]:
        if not passages:
            return []
        vectors = await self.embedder.create_batch([query, *passages])
        scored = [
            (passage, max(0.0, min(1.0, cosine(vectors[0], vector))))
            for passage, vector in zip(passages, vectors[1:], strict=True)
        ]
        return sorted(scored, key=lambda pair: pair[1], reverse=True)


def _drop_stopword_entities(response: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """Remove stopword entity names (and edges naming them) from a model answer."""
    entities = response.get("extracted_entities")
    if isinstance(entities, list):
        kept = [
            e
            for e in entities
            if isinstance(e, dict) and entity_name_valid(str(e.get("name", "")))
        ]
        if len(kept) != len(entities):
            logger.info("dropped %s stopword entity names", len(entities) - len(kept))
        response = {**response, "extracted_entities": kept}
    edges = response.get("edges")
    if isinstance(edges, list):
        response = {
            **response,
            "edges": [
                e
                for e in edges
                if isinstance(e, dict)
                and entity_name_valid(str(e.get("source_entity_name", "")))
                and entity_name_valid(str(e.get("target_entity_name", "")))
            ],
        }
    return response


def _retryable(error: BaseException) -> bool:
    from graphiti_core.llm_client.client import is_server_or_retry_error

    return bool(is_server_or_retry_error(error))


class BoundedOpenAIClient(OpenAIGenericClient):
    """Graphiti's OpenAI-compatible client with a short, bounded retry."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        max_attempts: int,
        retry_seconds: float,
        client: typing.Any = None,
    ) -> None:
        super().__init__(config=config, client=client)
        self.max_attempts = max(1, max_attempts)
        self.retry_seconds = max(0.0, retry_seconds)

    # The base method is typed as tenacity's decorator, not as a method.
    async def _generate_response_with_retry(  # type: ignore[override]
        self,
        messages: list[Message],
        response_model: type[BaseModel] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        model_size: ModelSize = ModelSize.medium,
        *,
        model: str | None = None,
    ) -> dict[str, typing.Any]:
        overrides: dict[str, typing.Any] = {} if model is None else {"model": model}

        @retry(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_fixed(self.retry_seconds),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        async def attempt() -> dict[str, typing.Any]:
            return await self._generate_response(
                messages, response_model, max_tokens, model_size, **overrides
            )

        return _drop_stopword_entities(await attempt())


class OfflineModelRefused(RuntimeError):
    """A Graphiti step that needs a language model ran without one."""


class OfflineLLMClient(LLMClient):
    """Answers ``add_triplet``'s duplicate check without a model; nothing else."""

    def __init__(self) -> None:
        super().__init__(LLMConfig(api_key="offline", model="offline"))

    async def _generate_response(
        self,
        messages: list[Message],
        response_model: type[BaseModel] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        model_size: ModelSize = ModelSize.medium,
        *,
        model: str | None = None,
    ) -> dict[str, typing.Any]:
        name = getattr(response_model, "__name__", "")
        if name == "EdgeDuplicate":
            return {"duplicate_facts": [], "contradicted_facts": []}
        raise OfflineModelRefused(
            f"Graphiti asked for {name or 'free text'}, which needs a model provider"
        )

    # No retry: the answers above are computed, not requested.
    async def _generate_response_with_retry(  # type: ignore[override]
        self,
        messages: list[Message],
        response_model: type[BaseModel] | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        model_size: ModelSize = ModelSize.medium,
        *,
        model: str | None = None,
    ) -> dict[str, typing.Any]:
        return await self._generate_response(messages, response_model, max_tokens)
