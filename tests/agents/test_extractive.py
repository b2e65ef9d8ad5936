"""The offline default: searches with the agent's best tool, quotes, says so."""

from __future__ import annotations

import json

from agents.providers import (
    AssistantMessage,
    ChatRequest,
    StopReason,
    TextDelta,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from agents.providers.extractive import (
    NO_SEARCH,
    NOTHING_FOUND,
    PREAMBLE,
    ExtractiveChatModel,
)

QUESTION = "How do I reset my password?"


def tools(*names: str) -> tuple[ToolDefinition, ...]:
    return tuple(ToolDefinition(name, "", {"type": "object"}) for name in names)


def test_it_calls_the_best_search_tool_the_agent_has() -> None:
    model = ExtractiveChatModel()
    request = ChatRequest(
        system="",
        messages=(UserMessage(QUESTION),),
        tools=tools("list_documents", "text_search", "vector_search"),
    )

    result = model.complete(request)

    [call] = result.tool_calls
    assert result.stop_reason == StopReason.TOOL_USE
    assert call.name == "vector_search"
    assert call.arguments["query"] == QUESTION


def test_it_answers_with_the_passages_and_their_labels() -> None:
    model = ExtractiveChatModel()
    found = {
        "tool": "hybrid_search",
        "results": [
            {"source": "S1", "document_title": "Reset", "content": "Choose Forgot."},
            {"source": "S2", "document_title": "Locks", "content": "Five attempts."},
        ],
    }
    first = model.complete(
        ChatRequest(
            system="", messages=(UserMessage(QUESTION),), tools=tools("hybrid_search")
        )
    )
    request = ChatRequest(
        system="",
        messages=(
            UserMessage(QUESTION),
            AssistantMessage("", first.tool_calls),
            ToolResultMessage(first.tool_calls[0].id, json.dumps(found)),
        ),
        tools=tools("hybrid_search"),
    )

    answer = model.complete(request)

    assert answer.tool_calls == ()
    assert answer.text.startswith(PREAMBLE)
    assert "[S1] Reset:\n> Choose Forgot." in answer.text
    assert "[S2] Locks" in answer.text
    assert answer.usage.input_tokens == answer.usage.output_tokens == 0
    streamed = "".join(
        e.text for e in model.stream(request) if isinstance(e, TextDelta)
    )
    assert streamed == answer.text


def test_it_says_when_nothing_was_found_or_no_search_is_enabled() -> None:
    model = ExtractiveChatModel()
    empty = ChatRequest(
        system="",
        messages=(
            UserMessage(QUESTION),
            ToolResultMessage("c1", json.dumps({"results": []})),
        ),
        tools=tools("hybrid_search"),
    )
    failed = ChatRequest(
        system="",
        messages=(
            UserMessage(QUESTION),
            ToolResultMessage("c1", json.dumps({"error": {"code": "x"}}), True),
        ),
        tools=tools("hybrid_search"),
    )
    no_tool = ChatRequest(system="", messages=(UserMessage(QUESTION),), tools=())

    assert model.complete(empty).text == NOTHING_FOUND
    assert model.complete(failed).text == NOTHING_FOUND
    assert model.complete(no_tool).text == NO_SEARCH


def test_a_new_question_searches_again() -> None:
    model = ExtractiveChatModel()
    request = ChatRequest(
        system="",
        messages=(
            UserMessage("first"),
            ToolResultMessage("c1", json.dumps({"results": []})),
            AssistantMessage(NOTHING_FOUND),
            UserMessage("second"),
        ),
        tools=tools("text_search"),
    )

    [call] = model.complete(request).tool_calls

    assert call.arguments["query"] == "second"
