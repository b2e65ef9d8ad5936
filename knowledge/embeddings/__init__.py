"""Embedding providers behind one interface (docs/ingestion.md).

``get_provider()`` returns the deployment's provider: the local MiniLM model
by default (offline, no keys), or an OpenAI-compatible server.
"""

from knowledge.embeddings.base import (
    EmbeddingBatch,
    EmbeddingError,
    EmbeddingProvider,
    get_provider,
)

__all__ = ["EmbeddingBatch", "EmbeddingError", "EmbeddingProvider", "get_provider"]
