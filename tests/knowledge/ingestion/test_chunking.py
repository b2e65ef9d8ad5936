"""Chunks respect headings, size and overlap, and read their workspace settings."""

import itertools

import pytest

from knowledge.ingestion import parsers
from knowledge.ingestion.chunking import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    ChunkSettings,
    chunk_document,
)
from knowledge.ingestion.parsers import ParsedDocument, Section
from tests.knowledge import corpus


def test_chunks_never_span_sections_and_carry_heading_paths():
    parsed = parsers.parse("markdown", corpus.MARKDOWN, fallback_title="f")

    chunks = chunk_document(parsed, ChunkSettings())

    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.metadata["heading_path"] for c in chunks] == [
        s.heading_path for s in parsed.sections
    ]
    assert chunks[1].content == "Billing\n\nInvoices are sent monthly."


def test_long_sections_split_within_size_with_overlap():
    sentences = " ".join(f"Sentence number {n} says something." for n in range(200))
    parsed = ParsedDocument(
        title="t", sections=[Section(heading_path=["Long"], text=sentences)]
    )
    spec = ChunkSettings(size=300, overlap=60)

    chunks = chunk_document(parsed, spec)

    assert len(chunks) > 10
    assert all(len(c.content) <= spec.size + 1 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        # Each chunk opens with words the previous one ended with.
        opening = current.content.split()[:3]
        assert " ".join(opening) in previous.content
    words = {w for c in chunks for w in c.content.split()}
    assert {f"{n}" for n in range(200)} <= words


def test_a_word_longer_than_a_chunk_is_cut():
    parsed = ParsedDocument(
        title="t", sections=[Section(heading_path=[], text="x" * 950)]
    )

    chunks = chunk_document(parsed, ChunkSettings(size=400, overlap=0))

    assert "".join(c.content for c in chunks) == "x" * 950
    assert all(len(c.content) <= 400 for c in chunks)


def test_pages_are_kept_in_metadata():
    parsed = parsers.parse("pdf", corpus.pdf(["one", "two"]), fallback_title="f")

    chunks = chunk_document(parsed, ChunkSettings())

    assert [c.metadata["page"] for c in chunks] == [1, 2]


@pytest.mark.parametrize(
    ("workspace_settings", "expected"),
    [
        (None, (DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP)),
        ({}, (DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_OVERLAP)),
        ({"chunk_size": 500, "chunk_overlap": 50}, (500, 50)),
        ({"chunk_size": "600", "chunk_overlap": "0"}, (600, 0)),
        ({"chunk_size": 10, "chunk_overlap": 500}, (100, 50)),
        ({"chunk_size": 10**9}, (8000, DEFAULT_CHUNK_OVERLAP)),
        ({"chunk_size": "big", "chunk_overlap": True}, (1000, DEFAULT_CHUNK_OVERLAP)),
        ({"chunk_overlap": -5}, (DEFAULT_CHUNK_SIZE, 0)),
    ],
)
def test_workspace_settings_are_read_and_bounded(workspace_settings, expected):
    spec = ChunkSettings.from_workspace(workspace_settings)

    assert (spec.size, spec.overlap) == expected
