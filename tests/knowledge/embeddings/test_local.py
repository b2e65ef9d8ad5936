"""The offline MiniLM provider: shape, normalisation, meaning, truncation."""

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings.base import _provider, get_provider
from knowledge.embeddings.local import MAX_TOKENS, LocalMiniLMProvider


@pytest.fixture(scope="module")
def provider():
    return LocalMiniLMProvider()


def test_vectors_are_384_dimensional_and_unit_length(provider):
    batch = provider.embed(["The cat sits on the mat.", "Quarterly revenue grew."])

    vectors = np.array(batch.vectors)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert batch.tokens == sum(batch.token_counts) > 0


def test_similar_meanings_are_closer(provider):
    cat, kitten, invoice = np.array(
        provider.embed(
            [
                "A cat is sleeping on the sofa.",
                "A kitten naps on the couch.",
                "Send the invoice to accounting by Friday.",
            ]
        ).vectors
    )

    assert cat @ kitten > 0.5
    assert cat @ kitten > cat @ invoice + 0.3


def test_padding_in_a_batch_does_not_change_a_vector(provider):
    alone = provider.embed(["short text"]).vectors[0]
    batched = provider.embed(["short text", "a much longer text " * 20]).vectors[0]

    assert np.allclose(alone, batched, atol=1e-4)


def test_long_text_is_truncated(provider):
    batch = provider.embed(["word " * 2000])

    assert batch.token_counts == [MAX_TOKENS]


def test_empty_batch(provider):
    assert provider.embed([]).vectors == []


def test_the_configured_dimension_must_match_the_model(settings):
    _provider.cache_clear()
    settings.ATRIUM_EMBEDDING_DIMENSIONS = 768
    try:
        with pytest.raises(ImproperlyConfigured, match="768"):
            get_provider()
        settings.ATRIUM_EMBEDDING_DIMENSIONS = 384
        settings.ATRIUM_EMBEDDING_PROVIDER = "nonsense"
        with pytest.raises(ImproperlyConfigured, match="local"):
            get_provider()
    finally:
        _provider.cache_clear()


def test_idle_model_threads_sleep_rather_than_spin(provider):
    provider.embed(["load the session"])
    session, _ = provider._load()

    options = session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
