"""Cut a parsed document into overlapping passages that respect its structure.

A chunk never spans two sections, so its heading path (kept in its metadata)
is exactly the headings above its text. Within a section, paragraphs are
packed up to the chunk size; a paragraph too long for one chunk is split at
sentence, then word boundaries. Each chunk after the first of a section
starts with the tail of the previous one (the overlap), so a sentence cut at
a boundary is still whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from knowledge.ingestion.parsers import ParsedDocument

DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 150
MIN_CHUNK_SIZE = 100
MAX_CHUNK_SIZE = 8000

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class ChunkSettings:
    """Chunk size and overlap in characters (about 4 per token in English)."""

    size: int = DEFAULT_CHUNK_SIZE
    overlap: int = DEFAULT_CHUNK_OVERLAP

    @classmethod
    def from_workspace(cls, settings: Mapping[str, Any] | None) -> ChunkSettings:
        """Read ``chunk_size``/``chunk_overlap`` from ``Workspace.settings``.

        Out-of-range or malformed values fall back into range rather than
        failing every upload of the workspace.
        """
        settings = settings or {}
        size = _int(settings.get("chunk_size"), DEFAULT_CHUNK_SIZE)
        size = max(MIN_CHUNK_SIZE, min(MAX_CHUNK_SIZE, size))
        overlap = _int(settings.get("chunk_overlap"), DEFAULT_CHUNK_OVERLAP)
        overlap = max(0, min(size // 2, overlap))
        return cls(size=size, overlap=overlap)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass
class TextChunk:
    index: int
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _pieces(text: str, size: int) -> Iterator[str]:
    """Split text into pieces no longer than ``size``, at the gentlest boundary."""
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= size:
            yield paragraph
            continue
        for sentence in _SENTENCE_END.split(paragraph):
            if len(sentence) <= size:
                yield sentence
                continue
            line = ""
            for word in sentence.split():
                while len(word) > size:  # one "word" longer than a chunk
                    if line:
                        yield line
                        line = ""
                    yield word[:size]
                    word = word[size:]
                if line and len(line) + 1 + len(word) > size:
                    yield line
                    line = word
                else:
                    line = f"{line} {word}" if line else word
            if line:
                yield line


def _tail(text: str, overlap: int) -> str:
    """The last ``overlap`` characters of ``text``, starting at a word."""
    if overlap <= 0 or len(text) <= overlap:
        return text if overlap > 0 else ""
    tail = text[-overlap:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < len(tail) - 1 else tail


def chunk_document(parsed: ParsedDocument, settings: ChunkSettings) -> list[TextChunk]:
    """Cut ``parsed`` into chunks, numbered from 0 in document order."""
    chunks: list[TextChunk] = []
    budget = settings.size

    for section_index, section in enumerate(parsed.sections):
        current = ""
        carried = ""  # the overlap that opens the current chunk
        metadata: dict[str, Any] = {
            "heading_path": list(section.heading_path),
            "section": section_index,
        }
        if section.page is not None:
            metadata["page"] = section.page

        def emit(text: str, metadata: dict[str, Any] = metadata) -> None:
            chunks.append(
                TextChunk(index=len(chunks), content=text, metadata=dict(metadata))
            )

        for piece in _pieces(section.text, max(1, budget - settings.overlap - 1)):
            joiner = "\n\n" if current else ""
            if current and len(current) + len(joiner) + len(piece) > budget:
                emit(current)
                carried = _tail(current, settings.overlap)
                current = f"{carried} {piece}" if carried else piece
            else:
                current = f"{current}{joiner}{piece}"
        if current and current != carried:
            emit(current)
    return chunks
