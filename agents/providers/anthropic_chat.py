"""Chat models over Anthropic's Messages API, through the `anthropic` SDK."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2

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

# The Messages API requires a length limit; agents may leave theirs unset.
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS = {
    "end_turn": StopReason.END_TURN,
    "stop_sequence": StopReason.END_TURN,
    "tool_use": StopReason.TOOL_USE,
    "max_tokens": StopReason.MAX_TOKENS,
    "model_context_window_exceeded": StopReason.MAX_TOKENS,
    "refusal": StopReason.CONTENT_FILTER,
}

# Error events inside a stream arrive after a 200 status line; their type
# says what the status would have been.
STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicChatModel:
    def __init__(
        self,
        *,
        model: str,
        credentials: ProviderCredentials,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = "anthropic"
        self.model = model
        self.base_url = credentials.base_url
        self._secrets = (credentials.api_key,)
        self._retry = retry or RetryPolicy.from_settings()
        self._client = anthropic.Anthropic(
            api_key=credentials.api_key,
            base_url=credentials.base_url,
            timeout=timeout if timeout is not None else default_timeout(),
            max_retries=0,
            http_client=pinned_client(credentials.pinned, anthropic.DefaultHttpxClient),
        )

    def __repr__(self) -> str:
        return f"AnthropicChatModel(model={self.model!r}, base_url={self.base_url!r})"

    def complete(self, request: ChatRequest) -> ChatResult:
        body = self._body(request)
        return call_with_retry(self._retry, lambda: self._complete_once(body))

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        body = self._body(request)
        body["stream"] = True
        return stream_with_retry(self._retry, lambda: self._stream_once(body))

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": wire_messages(request),
        }
        if request.system:
            body["system"] = request.system
        if request.tools:
            body["tools"] = [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                }
                for tool in request.tools
            ]
        # `request.temperature` is not sent: the Messages API version the
        # pinned SDK speaks has no sampling temperature (its `create()`
        # refuses the argument), so the agent's setting has no effect here.
        return body

    def _complete_once(self, body: dict[str, Any]) -> ChatResult:
        response, error = self._guarded(lambda: self._client.messages.create(**body))
        if error is not None:
            raise error
        return self._result(response)

    def _result(self, response: Any) -> ChatResult:
        content = getattr(response, "content", None)
        if content is None or getattr(response, "usage", None) is None:
            raise self._malformed()

        text = "".join(block.text for block in content if block.type == "text")
        calls = tuple(
            ToolCall(id=block.id, name=block.name, arguments=dict(block.input or {}))
            for block in content
            if block.type == "tool_use"
        )
        return ChatResult(
            text=text,
            tool_calls=calls,
            stop_reason=STOP_REASONS.get(response.stop_reason, StopReason.OTHER),
            usage=Usage(
                input_tokens=response.usage.input_tokens or 0,
                output_tokens=response.usage.output_tokens or 0,
            ),
            model=response.model or self.model,
        )

    def _stream_once(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        raw_events, error = self._guarded(lambda: self._client.messages.create(**body))
        if error is not None:
            raise error

        with raw_events:
            yield from self._events(iter(raw_events))

    def _events(self, raw_events: Iterator[Any]) -> Iterator[StreamEvent]:
        assembler = StreamAssembler(model=self.model)
        # Content-block index -> (tool-call index, id, name, argument pieces).
        calls: dict[int, tuple[int, str, str, list[str]]] = {}
        input_tokens = output_tokens = 0
        stop: str | None = None
        finished = False

        while True:
            raw, error = self._guarded(lambda: next(raw_events, None))
            if error is not None:
                raise error
            if raw is None:
                break

            events: list[StreamEvent] = []
            if raw.type == "message_start":
                input_tokens = raw.message.usage.input_tokens or 0
                output_tokens = raw.message.usage.output_tokens or 0
                events.append(UsageUpdate(Usage(input_tokens, output_tokens)))
            elif raw.type == "content_block_start":
                block = raw.content_block
                if block.type == "tool_use":
                    calls[raw.index] = (len(calls), block.id, block.name, [])
                    events.append(
                        ToolCallStart(
                            index=len(calls) - 1, id=block.id, name=block.name
                        )
                    )
            elif raw.type == "content_block_delta":
                delta = raw.delta
                if delta.type == "text_delta":
                    events.append(TextDelta(delta.text))
                elif delta.type == "input_json_delta" and raw.index in calls:
                    calls[raw.index][3].append(delta.partial_json)
                    events.append(
                        ToolCallDelta(
                            index=calls[raw.index][0], arguments=delta.partial_json
                        )
                    )
            elif raw.type == "content_block_stop" and raw.index in calls:
                index, id_, name, parts = calls[raw.index]
                call = ToolCall.from_json(
                    id=id_, name=name, raw_arguments="".join(parts)
                )
                events.append(ToolCallEnd(index=index, call=call))
            elif raw.type == "message_delta":
                stop = raw.delta.stop_reason or stop
                if raw.usage.input_tokens is not None:
                    input_tokens = raw.usage.input_tokens
                output_tokens = raw.usage.output_tokens or output_tokens
                events.append(UsageUpdate(Usage(input_tokens, output_tokens)))
            elif raw.type == "message_stop":
                finished = True

            for event in events:
                assembler.add(event)
                yield event

        if not finished:
            raise ProviderError(
                "anthropic ended the stream before the answer was complete",
                provider=self.provider,
            )
        yield Done(assembler.result(STOP_REASONS.get(stop or "", StopReason.OTHER)))

    def _guarded(self, step: Callable[[], Any]) -> tuple[Any, ProviderError | None]:
        """Run one SDK step; return its value, or the mapped error that stopped it.

        The error is returned, not raised, so that the caller raises it outside
        any `except` block and no SDK exception (which holds the request and
        its authorization header) rides along as its context.
        """
        try:
            return step(), None
        except anthropic.APIError as exc:
            return None, self._error(exc)
        except httpx2.TimeoutException:
            # The SDK lets timeouts inside a stream through unwrapped.
            return None, self._logged(
                ProviderTimeout(
                    "anthropic did not answer in time", provider=self.provider
                )
            )
        except httpx2.TransportError:
            return None, self._logged(
                ProviderUnavailable(
                    "anthropic closed the connection mid-answer",
                    provider=self.provider,
                )
            )
        except ValueError:
            return None, self._malformed()

    def _error(self, exc: anthropic.APIError) -> ProviderError:
        if isinstance(exc, anthropic.APITimeoutError):
            error: ProviderError = ProviderTimeout(
                "anthropic did not answer in time", provider=self.provider
            )
        elif isinstance(exc, anthropic.APIConnectionError):
            error = ProviderUnavailable(
                f"anthropic could not be reached at {self.base_url}",
                provider=self.provider,
                retryable=True,
            )
        elif isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            if status < 400:
                status = STREAM_ERROR_STATUS.get(exc.type or "", 500)
            error = error_for_status(
                provider=self.provider,
                status=status,
                headers=exc.response.headers,
                detail=exc.api_message,
                secrets=self._secrets,
            )
        elif isinstance(exc, anthropic.APIResponseValidationError):
            return self._malformed()
        else:
            error = ProviderError(
                f"anthropic failed{detail_text(exc.message, self._secrets)}",
                provider=self.provider,
            )
        return self._logged(error)

    def _logged(self, error: ProviderError) -> ProviderError:
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
        return self._logged(
            ProviderError(
                "anthropic sent an answer that is not a message",
                provider=self.provider,
            )
        )


def wire_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """Translate the conversation to Messages API turns.

    Tool results travel in a user turn, and the API wants turns to alternate,
    so neighbouring blocks of the same role are merged into one turn.
    """
    turns: list[dict[str, Any]] = []
    for message in request.messages:
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(
    message: UserMessage | AssistantMessage | ToolResultMessage,
) -> tuple[str, list[dict[str, Any]]]:
    if isinstance(message, UserMessage):
        return "user", [{"type": "text", "text": message.content}]
    if isinstance(message, ToolResultMessage):
        return "user", [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
                "is_error": message.is_error,
            }
        ]
    # The API rejects empty text blocks, which a tool-only turn would have.
    blocks: list[dict[str, Any]] = (
        [{"type": "text", "text": message.content}] if message.content else []
    )
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    ]
    return "assistant", blocks
