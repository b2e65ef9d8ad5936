"""How an answer reads on a page: blocks, inline runs and numbered citations.

An answer (or a cited passage) is shown as markdown-like blocks built here
and rendered by templates/agents/_answer_blocks.html, never as raw HTML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agents.models import Message

LABEL = re.compile(r"S\d+")
INLINE = re.compile(r"\[(?:\s*S\d+\s*[,;]?)+\]|\*\*[^*\n]+\*\*|`[^`\n]+`")
LIST_ITEM = re.compile(r"^(?:[-*•]|\d+[.)])\s+")
SOURCE_LINE = re.compile(r"^\[(S\d+)\]\s*(.*?):?$")
HEADING = re.compile(r"^#{1,6}\s+")


@dataclass
class Block:
    """A paragraph, quote, list or source heading of an answer."""

    kind: str
    lines: list[str] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)
    items: list[list[dict[str, Any]]] = field(default_factory=list)
    label: str = ""
    number: int = 0


def inline_parts(text: str, numbers: dict[str, int]) -> list[dict[str, Any]]:
    """Text split into plain runs, citation markers, bold and code."""
    parts: list[dict[str, Any]] = []
    position = 0
    for match in INLINE.finditer(text):
        if match.start() > position:
            parts.append({"kind": "text", "text": text[position : match.start()]})
        token = match.group(0)
        if token.startswith("["):
            labels = LABEL.findall(token)
            if all(label in numbers for label in labels):
                parts += [
                    {"kind": "cite", "label": label, "number": numbers[label]}
                    for label in labels
                ]
            else:
                parts.append({"kind": "text", "text": token})
        elif token.startswith("**"):
            parts.append({"kind": "strong", "text": token[2:-2]})
        else:
            parts.append({"kind": "code", "text": token[1:-1]})
        position = match.end()
    if position < len(text):
        parts.append({"kind": "text", "text": text[position:]})
    return parts


def answer_blocks(
    text: str, numbers: dict[str, int], *, soft_wraps: bool = False
) -> list[Block]:
    """An answer's text as blocks to render; markdown-like, never raw HTML.

    Headings (``#``), quotes (``>``), lists (``-``, ``1.``) and paragraphs; a
    line that is only a citation and a title, followed by a quote, becomes the
    quote's source heading (the extractive responder writes its passages that
    way). With ``soft_wraps`` (a document's text) the lines of a paragraph
    join with spaces, as markdown reads them; an answer keeps its line breaks.
    """
    blocks: list[Block] = []
    current: Block | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            current = None
            continue
        if HEADING.match(line):
            blocks.append(Block(kind="heading", lines=[HEADING.sub("", line)]))
            current = None
            continue
        if line.startswith(">"):
            kind, content = "quote", line[1:].strip()
        elif LIST_ITEM.match(line):
            kind, content = "list", LIST_ITEM.sub("", line)
        else:
            kind, content = "paragraph", line
        if current is None or current.kind != kind:
            current = Block(kind=kind)
            blocks.append(current)
        current.lines.append(content)

    for index, block in enumerate(blocks):
        if block.kind == "list":
            block.items = [inline_parts(item, numbers) for item in block.lines]
            continue
        source = SOURCE_LINE.match(block.lines[0]) if len(block.lines) == 1 else None
        following = blocks[index + 1].kind if index + 1 < len(blocks) else ""
        if source and following == "quote" and source.group(1) in numbers:
            block.kind = "source"
            block.label = source.group(1)
            block.number = numbers[block.label]
            block.parts = inline_parts(source.group(2), {})
            continue
        joiner = "\n" if block.kind == "paragraph" and not soft_wraps else " "
        block.parts = inline_parts(joiner.join(block.lines), numbers)
    return blocks


def answer_view(message: Message) -> dict[str, Any]:
    """What the message template shows of a stored answer."""
    citations = [c for c in message.citations or [] if isinstance(c, dict)]
    numbers = {c["label"]: n for n, c in enumerate(citations, start=1)}
    metadata = message.metadata or {}
    return {
        "message": message,
        "blocks": answer_blocks(message.content, numbers),
        "citations": [{**c, "number": numbers[c["label"]]} for c in citations],
        "tool_calls": message.tool_calls or [],
        "tokens": message.input_tokens + message.output_tokens,
        "latency_ms": metadata.get("latency_ms"),
    }
