"""The vendor-neutral shapes of a chat-model call: request, result, stream events.

Every adapter translates these to and from its vendor's wire format, so the
chat loop never sees an OpenAI or Anthropic object and can switch models by
changing an agent's two fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class ToolDefinition:
    """A tool the model may call; `parameters` is a JSON schema for its input."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for.

    `arguments` is the parsed JSON object. A model can emit arguments that are
    not a JSON object; then `arguments` is empty and `parse_error` says why, so
    the chat loop can answer the call with an error instead of failing the turn.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    parse_error: str | None = None

    @classmethod
    def from_json(cls, *, id: str, name: str, raw_arguments: str) -> ToolCall:
        """Parse vendor-streamed argument text; empty text means no arguments."""
        text = raw_arguments.strip()
        if not text:
            return cls(id=id, name=name, arguments={}, raw_arguments=raw_arguments)

        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            return cls(
                id=id,
                name=name,
                arguments={},
                raw_arguments=raw_arguments,
                parse_error=f"arguments are not valid JSON: {exc.msg}",
            )
        if not isinstance(parsed, dict):
            return cls(
                id=id,
                name=name,
                arguments={},
                raw_arguments=raw_arguments,
                parse_error="arguments are not a JSON object",
            )
        return cls(id=id, name=name, arguments=parsed, raw_arguments=raw_arguments)


@dataclass(frozen=True)
class UserMessage:
    content: str


@dataclass(frozen=True)
class AssistantMessage:
    """A previous model turn: its text and the tool calls it made."""

    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ToolResultMessage:
    """The answer to one tool call, sent back on the next turn."""

    tool_call_id: str
    content: str
    is_error: bool = False


Message = UserMessage | AssistantMessage | ToolResultMessage


@dataclass(frozen=True)
class ChatRequest:
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    temperature: float | None = None
    max_tokens: int | None = None


class StopReason(StrEnum):
    END_TURN = "end_turn"
    TOOL_USE = "tool_use"
    MAX_TOKENS = "max_tokens"
    CONTENT_FILTER = "content_filter"
    OTHER = "other"


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ChatResult:
    text: str
    tool_calls: tuple[ToolCall, ...]
    stop_reason: StopReason
    usage: Usage
    model: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStart:
    """A tool call begins; `index` numbers the calls of this turn from 0."""

    index: int
    id: str
    name: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a tool call's JSON arguments, as the model writes them."""

    index: int
    arguments: str


@dataclass(frozen=True)
class ToolCallEnd:
    index: int
    call: ToolCall


@dataclass(frozen=True)
class UsageUpdate:
    """Token counts so far; a later update replaces an earlier one."""

    usage: Usage


@dataclass(frozen=True)
class Done:
    result: ChatResult


StreamEvent = (
    TextDelta | ToolCallStart | ToolCallDelta | ToolCallEnd | UsageUpdate | Done
)


@dataclass
class StreamAssembler:
    """Fold stream events into the `ChatResult` a non-streaming call returns.

    Adapters feed it every event they yield and end the stream with
    `Done(assembler.result(...))`; callers can use one too, to rebuild the
    result from events they stored.
    """

    model: str
    _text: list[str] = field(default_factory=list)
    _calls: dict[int, ToolCall] = field(default_factory=dict)
    _usage: Usage = field(default_factory=Usage)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self._text.append(event.text)
        elif isinstance(event, ToolCallEnd):
            self._calls[event.index] = event.call
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage

    def result(self, stop_reason: StopReason) -> ChatResult:
        return ChatResult(
            text="".join(self._text),
            tool_calls=tuple(self._calls[i] for i in sorted(self._calls)),
            stop_reason=stop_reason,
            usage=self._usage,
            model=self.model,
        )
