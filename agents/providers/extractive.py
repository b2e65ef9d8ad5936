"""The offline default: an honest extractive responder, not a language model.

It runs the best search tool the request offers on the question and answers
with the best passages it found, quoted, each with its source label, under a
first line that says the answer is extracted, not generated. It goes
through the same chat loop as a real model (a tool call, then an answer),
so tools, citations, storage and streaming behave the same with no keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from agents.providers.types import (
    ChatRequest,
    ChatResult,
    Done,
    StopReason,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEnd,
    ToolCallStart,
    ToolResultMessage,
    Usage,
    UserMessage,
)

PROVIDER = "extractive"
SEARCH_PREFERENCE = ("hybrid_search", "vector_search", "text_search", "graph_search")
PASSAGES = 3
PASSAGE_CHARACTERS = 700

PREAMBLE = (
    "This is an extractive answer: the passages below are quoted from this "
    "workspace's documents as search found them; no language model wrote or "
    "checked it."
)
NOTHING_FOUND = (
    "This is an extractive answer, and search found nothing in this "
    "workspace's documents for the question."
)
NO_SEARCH = (
    "This agent answers extractively (no language model is configured) and "
    "needs a search tool to do so; none is enabled."
)


class ExtractiveChatModel:
    """A `ChatModel` that searches and quotes; it never invents text."""

    provider = PROVIDER

    def __init__(self, model: str = "extractive") -> None:
        self.model = model or "extractive"

    def complete(self, request: ChatRequest) -> ChatResult:
        question = _question(request)
        last_user = _last_user_index(request)
        answered = [
            m
            for i, m in enumerate(request.messages)
            if isinstance(m, ToolResultMessage) and i > last_user
        ]
        if not answered:
            tool = next(
                (name for name in SEARCH_PREFERENCE if name in _tool_names(request)),
                None,
            )
            if tool is None:
                return self._answer(NO_SEARCH)
            call = ToolCall(
                id="extractive-search-1",
                name=tool,
                arguments={"query": question[:1000], "limit": PASSAGES * 2},
                raw_arguments=json.dumps({"query": question[:1000]}),
            )
            return ChatResult(
                text="",
                tool_calls=(call,),
                stop_reason=StopReason.TOOL_USE,
                usage=Usage(),
                model=self.model,
            )
        return self._answer(compose(answered[-1].content))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        result = self.complete(request)
        for index, call in enumerate(result.tool_calls):
            yield ToolCallStart(index=index, id=call.id, name=call.name)
            yield ToolCallEnd(index=index, call=call)
        for piece in re.split(r"(?<=\n)", result.text):
            if piece:
                yield TextDelta(piece)
        yield Done(result)

    def _answer(self, text: str) -> ChatResult:
        return ChatResult(
            text=text,
            tool_calls=(),
            stop_reason=StopReason.END_TURN,
            usage=Usage(),
            model=self.model,
        )


def _tool_names(request: ChatRequest) -> set[str]:
    return {tool.name for tool in request.tools}


def _last_user_index(request: ChatRequest) -> int:
    for index in range(len(request.messages) - 1, -1, -1):
        if isinstance(request.messages[index], UserMessage):
            return index
    return -1


def _question(request: ChatRequest) -> str:
    index = _last_user_index(request)
    if index < 0:
        return ""
    message = request.messages[index]
    return message.content if isinstance(message, UserMessage) else ""


def _passage(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= PASSAGE_CHARACTERS:
        return text
    cut = text[:PASSAGE_CHARACTERS]
    end = max(cut.rfind(". "), cut.rfind(" "))
    return cut[: end if end > PASSAGE_CHARACTERS // 2 else PASSAGE_CHARACTERS] + " …"


def compose(tool_result: str) -> str:
    """The answer for one search result: the preamble and the best passages."""
    try:
        body: dict[str, Any] = json.loads(tool_result)
    except json.JSONDecodeError:
        return NOTHING_FOUND
    results = [
        r for r in body.get("results", []) if isinstance(r, dict) and r.get("content")
    ]
    if body.get("error") or not results:
        return NOTHING_FOUND

    lines = [PREAMBLE, ""]
    for result in results[:PASSAGES]:
        title = str(result.get("document_title") or "").strip()
        heading = f"[{result.get('source', '')}]"
        if title:
            heading += f" {title}"
        lines.append(f"{heading}:")
        lines.append(f"> {_passage(str(result['content']))}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
