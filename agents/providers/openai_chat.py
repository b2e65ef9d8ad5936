"""Chat models over the OpenAI chat-completions protocol, through the `openai` SDK.

One adapter serves OpenAI itself and every OpenAI-compatible server (Ollama,
vLLM, llama.cpp); they differ only in address, key and the name of the
output-length parameter, which `OpenAIChatModel` takes as arguments.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import openai

from agents.providers.addresses import pinned_client
from agents.providers.base import default_timeout
from agents.providers.credentials import ProviderCredentials
from agents.providers.errors import (
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    detail_text,
    error_for_status,
)
from agents.providers.retry import RetryPolicy, call_with_retry, stream_with_retry
from agents.providers.types import (
    AssistantMessage,
    ChatRequest,
    ChatResult,
    Done,
    StopReason,
    StreamAssembler,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolResultMessage,
    Usage,
    UsageUpdate,
    UserMessage,
)

logger = logging.getLogger(__name__)

FINISH_REASONS = {
    "stop": StopReason.END_TURN,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "length": StopReason.MAX_TOKENS,
    "content_filter": StopReason.CONTENT_FILTER,
}


class OpenAIChatModel:
    """A chat model behind `/chat/completions`.

    `max_tokens_field` is `max_completion_tokens` for OpenAI (its newer models
    refuse `max_tokens`) and `max_tokens` for compatible servers, which mostly
    know only that one.
    """

    def __init__(
        self,
        *,
        model: str,
        credentials: ProviderCredentials,
        provider: str = "openai",
        max_tokens_field: str = "max_completion_tokens",
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.base_url = credentials.base_url
        self._secrets = (credentials.api_key,)
        self._max_tokens_field = max_tokens_field
        self._retry = retry or RetryPolicy.from_settings()
        self._client = openai.OpenAI(
            api_key=credentials.api_key,
            base_url=credentials.base_url,
            timeout=timeout if timeout is not None else default_timeout(),
            max_retries=0,
            default_headers=_ENVIRONMENT_HEADERS,
            http_client=pinned_client(credentials.pinned, openai.DefaultHttpxClient),
            # Local servers often run without a key; the SDK refuses that
            # unless told, and the request must then omit Authorization.
            _enforce_credentials=bool(credentials.api_key),
        )
        self._request_headers: Any = (
            None if credentials.api_key else {"Authorization": openai.omit}
        )

    def __repr__(self) -> str:
        return (
            f"OpenAIChatModel(provider={self.provider!r}, model={self.model!r}, "
            f"base_url={self.base_url!r})"
        )

    def complete(self, request: ChatRequest) -> ChatResult:
        body = self._body(request)
        return call_with_retry(self._retry, lambda: self._complete_once(body))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        body = self._body(request)
        body["stream"] = True
        # Without this OpenAI sends no token counts in a stream.
        body["stream_options"] = {"include_usage": True}
        return stream_with_retry(self._retry, lambda: self._stream_once(body))

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": wire_messages(request),
            "extra_headers": self._request_headers,
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body[self._max_tokens_field] = request.max_tokens
        return body

    def _complete_once(self, body: dict[str, Any]) -> ChatResult:
        response, error = self._guarded(
            lambda: self._client.chat.completions.create(**body)
        )
        if error is not None:
            raise error
        return self._result(response)

    def _guarded(self, step: Callable[[], Any]) -> tuple[Any, ProviderError | None]:
        """Run one SDK step; return its value, or the mapped error that stopped it.

        The error is returned, not raised, so that the caller raises it outside
        any `except` block and no SDK exception (which holds the request and
        its authorization header) rides along as its context.
        """
        try:
            return step(), None
        except openai.APIError as exc:
            return None, self._error(exc)
        except ValueError:
            return None, self._malformed()

    def _result(self, response: Any) -> ChatResult:
        choices = getattr(response, "choices", None)
        choice = choices[0] if choices else None
        message = getattr(choice, "message", None)
        if choice is None or message is None:
            raise self._malformed()

        calls = tuple(
            ToolCall.from_json(
                id=call.id,
                name=call.function.name,
                raw_arguments=call.function.arguments or "",
            )
            for call in (message.tool_calls or ())
            if getattr(call, "function", None) is not None
        )
        return ChatResult(
            text=message.content or "",
            tool_calls=calls,
            stop_reason=FINISH_REASONS.get(choice.finish_reason, StopReason.OTHER),
            usage=_usage(response.usage),
            model=response.model or self.model,
        )

    def _stream_once(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        chunks, error = self._guarded(
            lambda: self._client.chat.completions.create(**body)
        )
        if error is not None:
            raise error

        with chunks:
            yield from self._events(iter(chunks))

    def _events(self, chunks: Iterator[Any]) -> Iterator[StreamEvent]:
        assembler = StreamAssembler(model=self.model)
        open_calls: dict[int, tuple[str, str, list[str]]] = {}
        finish: str | None = None

        while True:
            chunk, error = self._guarded(lambda: next(chunks, None))
            if error is not None:
                raise error
            if chunk is None:
                break

            events: list[StreamEvent] = []
            if chunk.usage is not None:
                events.append(UsageUpdate(_usage(chunk.usage)))
            for choice in chunk.choices or ():
                delta = choice.delta
                if delta is not None and delta.content:
                    events.append(TextDelta(delta.content))
                for piece in (delta.tool_calls if delta is not None else None) or ():
                    events += _tool_call_events(piece, open_calls)
                if choice.finish_reason:
                    finish = choice.finish_reason
                    events += _end_calls(open_calls)

            for event in events:
                assembler.add(event)
                yield event

        if finish is None:
            raise ProviderError(
                f"{self.provider} ended the stream before the answer was complete",
                provider=self.provider,
            )
        for event in _end_calls(open_calls):
            assembler.add(event)
            yield event
        yield Done(assembler.result(FINISH_REASONS.get(finish, StopReason.OTHER)))

    def _error(self, exc: openai.APIError) -> ProviderError:
        if isinstance(exc, openai.APITimeoutError):
            error: ProviderError = ProviderTimeout(
                f"{self.provider} did not answer in time", provider=self.provider
            )
        elif isinstance(exc, openai.APIConnectionError):
            error = ProviderUnavailable(
                f"{self.provider} could not be reached at {self.base_url}",
                provider=self.provider,
                retryable=True,
            )
        elif isinstance(exc, openai.APIStatusError):
            error = error_for_status(
                provider=self.provider,
                status=exc.status_code,
                headers=exc.response.headers,
                detail=_vendor_message(exc.body),
                secrets=self._secrets,
            )
        elif isinstance(exc, openai.APIResponseValidationError):
            error = self._malformed()
        else:
            # An error event inside a stream: the status line said 200.
            error = ProviderError(
                f"{self.provider} failed mid-answer"
                f"{detail_text(_vendor_message(exc.body), self._secrets)}",
                provider=self.provider,
            )
        logger.warning(
            "chat model call failed",
            extra={
                "provider": self.provider,
                "model": self.model,
                "code": error.code,
                "status": error.status,
            },
        )
        return error

    def _malformed(self) -> ProviderError:
        logger.warning(
            "chat model answer unreadable",
            extra={"provider": self.provider, "model": self.model},
        )
        return ProviderError(
            f"{self.provider} sent an answer that is not a chat completion",
            provider=self.provider,
        )


# Drops the headers the SDK fills from OpenAI's own environment variables:
# settings are Atrium's only source of configuration, and an `OPENAI_ORG_ID`
# left in a shell must not reach a compatible server.
_ENVIRONMENT_HEADERS: Any = {
    "OpenAI-Organization": openai.omit,
    "OpenAI-Project": openai.omit,
}


def wire_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """Translate the conversation to chat-completions messages."""
    wire: list[dict[str, Any]] = []
    if request.system:
        wire.append({"role": "system", "content": request.system})
    for message in request.messages:
        if isinstance(message, UserMessage):
            wire.append({"role": "user", "content": message.content})
        elif isinstance(message, AssistantMessage):
            entry: dict[str, Any] = {"role": "assistant", "content": message.content}
            if message.tool_calls:
                entry["content"] = message.content or None
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.name,
                            "arguments": call.raw_arguments
                            or json.dumps(call.arguments),
                        },
                    }
                    for call in message.tool_calls
                ]
            wire.append(entry)
        elif isinstance(message, ToolResultMessage):
            wire.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id,
                    "content": message.content,
                }
            )
    return wire


def _tool_call_events(
    piece: Any, open_calls: dict[int, tuple[str, str, list[str]]]
) -> list[StreamEvent]:
    """Events for one tool-call fragment; the first fragment carries id and name."""
    index = piece.index
    function = piece.function
    arguments = (function.arguments if function is not None else None) or ""
    events: list[StreamEvent] = []
    if index not in open_calls:
        name = (function.name if function is not None else None) or ""
        open_calls[index] = (piece.id or f"call_{index}", name, [])
        events.append(ToolCallStart(index=index, id=open_calls[index][0], name=name))
    if arguments:
        open_calls[index][2].append(arguments)
        events.append(ToolCallDelta(index=index, arguments=arguments))
    return events


def _end_calls(open_calls: dict[int, tuple[str, str, list[str]]]) -> list[StreamEvent]:
    events: list[StreamEvent] = [
        ToolCallEnd(
            index=index,
            call=ToolCall.from_json(id=id_, name=name, raw_arguments="".join(parts)),
        )
        for index, (id_, name, parts) in sorted(open_calls.items())
    ]
    open_calls.clear()
    return events


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return Usage(
        input_tokens=usage.prompt_tokens or 0,
        output_tokens=usage.completion_tokens or 0,
    )


def _vendor_message(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        if isinstance(inner, str):
            return inner
    return None
