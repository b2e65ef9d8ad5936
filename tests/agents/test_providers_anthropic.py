"""The Anthropic adapter against a local server speaking the Messages API."""

from __future__ import annotations

import pytest

from agents.providers import (
    AssistantMessage,
    ChatRequest,
    Done,
    ProviderAuthFailed,
    ProviderBadRequest,
    ProviderCredentials,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RetryPolicy,
    StopReason,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UsageUpdate,
    UserMessage,
)
from agents.providers.anthropic_chat import DEFAULT_MAX_TOKENS, AnthropicChatModel
from tests.agents.conftest import SECRET, Clock, everything_said
from tests.support.llm_servers import AnthropicServer, Call, Canned, sse_event

SEARCH = ToolDefinition(
    name="hybrid_search",
    description="Search the workspace's documents.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
)

QUESTION = ChatRequest(
    system="You answer from the handbook.",
    messages=(UserMessage("How do I reset my password?"),),
    temperature=0.2,
    max_tokens=300,
)


def model_for(
    server: AnthropicServer, retry: RetryPolicy, timeout: float = 5.0
) -> AnthropicChatModel:
    return AnthropicChatModel(
        model="claude-test",
        credentials=ProviderCredentials(api_key=SECRET, base_url=server.base_url),
        timeout=timeout,
        retry=retry,
    )


def test_plain_completion(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.reply(text="Use the reset link.", input_tokens=21, output_tokens=5)

    result = model_for(anthropic_server, retry).complete(QUESTION)

    assert result.text == "Use the reset link."
    assert result.tool_calls == ()
    assert result.stop_reason is StopReason.END_TURN
    assert result.usage == Usage(input_tokens=21, output_tokens=5)
    assert result.model == "claude-test"


def test_request_carries_system_prompt_length_limit_and_key(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.reply(text="ok")

    model_for(anthropic_server, retry).complete(QUESTION)

    [sent] = anthropic_server.requests
    assert sent.path == "/v1/messages"
    # The pinned SDK sends API keys as a bearer token, with the API version.
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["anthropic-version"]
    assert sent.json == {
        "model": "claude-test",
        "max_tokens": 300,
        "system": "You answer from the handbook.",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "How do I reset my password?"}],
            }
        ],
    }
    # This API version has no sampling temperature; the SDK refuses one.
    assert "temperature" not in sent.json


def test_request_carries_tools_and_the_tool_exchange(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.reply(text="It is in the handbook.")
    calls = (
        ToolCall(id="toolu_1", name="hybrid_search", arguments={"query": "reset"}),
        ToolCall(id="toolu_2", name="list_documents", arguments={}),
    )
    request = ChatRequest(
        system="",
        messages=(
            UserMessage("How do I reset my password?"),
            AssistantMessage(content="Let me look.", tool_calls=calls),
            ToolResultMessage(tool_call_id="toolu_1", content="[1] Reset via email."),
            ToolResultMessage(tool_call_id="toolu_2", content="no", is_error=True),
            UserMessage("Thanks, and the link?"),
        ),
        tools=(SEARCH,),
    )

    model_for(anthropic_server, retry).complete(request)

    body = anthropic_server.requests[0].json
    assert "system" not in body
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert body["tools"] == [
        {
            "name": "hybrid_search",
            "description": "Search the workspace's documents.",
            "input_schema": SEARCH.parameters,
        }
    ]
    # Tool results and the next question merge into one user turn.
    assert body["messages"] == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "How do I reset my password?"}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "hybrid_search",
                    "input": {"query": "reset"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "list_documents",
                    "input": {},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "[1] Reset via email.",
                    "is_error": False,
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "no",
                    "is_error": True,
                },
                {"type": "text", "text": "Thanks, and the link?"},
            ],
        },
    ]


def test_several_tool_calls_in_one_turn(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.reply(
        text="Searching.",
        calls=[
            Call("toolu_a", "hybrid_search", ['{"query": "reset"}']),
            Call("toolu_b", "list_documents", ["{}"]),
        ],
        input_tokens=40,
        output_tokens=18,
    )

    result = model_for(anthropic_server, retry).complete(QUESTION)

    assert result.stop_reason is StopReason.TOOL_USE
    assert result.text == "Searching."
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("toolu_a", "hybrid_search", {"query": "reset"}),
        ("toolu_b", "list_documents", {}),
    ]
    assert result.usage == Usage(40, 18)


def test_stream_text_and_usage(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.reply_stream(
        text=["Use the ", "reset link."], input_tokens=21, output_tokens=5
    )

    events = list(model_for(anthropic_server, retry).stream(QUESTION))

    assert events[:-1] == [
        UsageUpdate(Usage(21, 1)),
        TextDelta("Use the "),
        TextDelta("reset link."),
        UsageUpdate(Usage(21, 5)),
    ]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.result.text == "Use the reset link."
    assert done.result.stop_reason is StopReason.END_TURN
    assert done.result.usage == Usage(21, 5)
    assert anthropic_server.requests[0].json["stream"] is True


def test_stream_tool_calls_with_arguments_split_across_chunks(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    calls = [
        Call("toolu_a", "hybrid_search", ['{"que', 'ry": "pass', 'word reset"}']),
        Call("toolu_b", "get_document", ['{"document_id": ', '"d-1"}']),
    ]
    anthropic_server.reply_stream(
        text=["Looking."], calls=calls, input_tokens=30, output_tokens=12
    )

    events = list(model_for(anthropic_server, retry).stream(QUESTION))

    assert events[:-1] == [
        UsageUpdate(Usage(30, 1)),
        TextDelta("Looking."),
        ToolCallStart(index=0, id="toolu_a", name="hybrid_search"),
        ToolCallDelta(index=0, arguments='{"que'),
        ToolCallDelta(index=0, arguments='ry": "pass'),
        ToolCallDelta(index=0, arguments='word reset"}'),
        ToolCallEnd(
            index=0,
            call=ToolCall.from_json(
                id="toolu_a",
                name="hybrid_search",
                raw_arguments='{"query": "password reset"}',
            ),
        ),
        ToolCallStart(index=1, id="toolu_b", name="get_document"),
        ToolCallDelta(index=1, arguments='{"document_id": '),
        ToolCallDelta(index=1, arguments='"d-1"}'),
        ToolCallEnd(
            index=1,
            call=ToolCall.from_json(
                id="toolu_b",
                name="get_document",
                raw_arguments='{"document_id": "d-1"}',
            ),
        ),
        UsageUpdate(Usage(30, 12)),
    ]
    result = events[-1].result  # type: ignore[union-attr]
    assert result.stop_reason is StopReason.TOOL_USE
    assert [c.arguments for c in result.tool_calls] == [
        {"query": "password reset"},
        {"document_id": "d-1"},
    ]


def test_stream_assembles_into_what_complete_returns(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    calls = [Call("toolu_a", "hybrid_search", ['{"query":', ' "reset"}'])]
    anthropic_server.reply(
        text="Searching.", calls=calls, input_tokens=9, output_tokens=4
    )
    anthropic_server.reply_stream(
        text=["Search", "ing."], calls=calls, input_tokens=9, output_tokens=4
    )
    model = model_for(anthropic_server, retry)

    completed = model.complete(QUESTION)
    events = list(model.stream(QUESTION))

    assert isinstance(events[-1], Done)
    # Parsed the same way, though one arrived whole and one in pieces.
    streamed = events[-1].result
    assert (streamed.text, streamed.stop_reason, streamed.usage) == (
        completed.text,
        completed.stop_reason,
        completed.usage,
    )
    assert [(c.id, c.name, c.arguments) for c in streamed.tool_calls] == [
        (c.id, c.name, c.arguments) for c in completed.tool_calls
    ]


@pytest.mark.parametrize(
    ("status", "error_type", "vendor_type"),
    [
        (401, ProviderAuthFailed, "authentication_error"),
        (403, ProviderAuthFailed, "permission_error"),
        (400, ProviderBadRequest, "invalid_request_error"),
        (404, ProviderBadRequest, "not_found_error"),
        (413, ProviderBadRequest, "request_too_large"),
    ],
)
def test_client_errors_are_typed_and_never_retried(
    anthropic_server: AnthropicServer,
    retry: RetryPolicy,
    clock: Clock,
    status: int,
    error_type: type[ProviderError],
    vendor_type: str,
) -> None:
    anthropic_server.enqueue(anthropic_server.error(status, "no", vendor_type))
    anthropic_server.reply(text="must not be reached")

    with pytest.raises(error_type) as caught:
        model_for(anthropic_server, retry).complete(QUESTION)

    assert caught.value.status == status
    assert caught.value.provider == "anthropic"
    assert len(anthropic_server.requests) == 1
    assert clock.sleeps == []


def test_bad_request_keeps_the_vendor_explanation(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.enqueue(
        anthropic_server.error(
            400, "messages: roles must alternate", "invalid_request_error"
        )
    )

    with pytest.raises(ProviderBadRequest, match="roles must alternate"):
        model_for(anthropic_server, retry).complete(QUESTION)


def test_server_errors_are_retried_with_backoff_then_given_up(
    anthropic_server: AnthropicServer, retry: RetryPolicy, clock: Clock
) -> None:
    anthropic_server.enqueue(*[anthropic_server.error(500, "boom")] * 3)

    with pytest.raises(ProviderError) as caught:
        model_for(anthropic_server, retry).complete(QUESTION)

    assert caught.value.code == "provider_error"
    assert len(anthropic_server.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_overloaded_then_success(
    anthropic_server: AnthropicServer, retry: RetryPolicy, clock: Clock
) -> None:
    anthropic_server.enqueue(
        anthropic_server.error(529, "Overloaded", "overloaded_error")
    )
    anthropic_server.reply(text="ok")

    assert model_for(anthropic_server, retry).complete(QUESTION).text == "ok"
    assert len(anthropic_server.requests) == 2
    assert clock.sleeps == [0.5]


def test_overloaded_throughout_is_unavailable(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.enqueue(
        *[anthropic_server.error(529, "Overloaded", "overloaded_error")] * 3
    )

    with pytest.raises(ProviderUnavailable) as caught:
        model_for(anthropic_server, retry).complete(QUESTION)

    assert caught.value.status == 529
    assert len(anthropic_server.requests) == 3


def test_rate_limit_waits_as_long_as_retry_after_says(
    anthropic_server: AnthropicServer, retry: RetryPolicy, clock: Clock
) -> None:
    anthropic_server.enqueue(
        anthropic_server.error(429, "slow", "rate_limit_error", {"retry-after": "3"})
    )
    anthropic_server.reply(text="ok")

    assert model_for(anthropic_server, retry).complete(QUESTION).text == "ok"
    assert clock.sleeps == [3.0]
    assert len(anthropic_server.requests) == 2


def test_rate_limit_longer_than_the_policy_allows_is_not_waited_for(
    anthropic_server: AnthropicServer, retry: RetryPolicy, clock: Clock
) -> None:
    anthropic_server.enqueue(
        anthropic_server.error(429, "slow", "rate_limit_error", {"retry-after": "60"})
    )

    with pytest.raises(ProviderRateLimited) as caught:
        model_for(anthropic_server, retry).complete(QUESTION)

    assert caught.value.retry_after == 60.0
    assert caught.value.code == "provider_rate_limited"
    assert len(anthropic_server.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "body",
    [b"this is not json", b'{"type": "message"}'],
    ids=["not-json", "no-content"],
)
def test_malformed_body_is_a_provider_error(
    anthropic_server: AnthropicServer, retry: RetryPolicy, body: bytes
) -> None:
    anthropic_server.enqueue(Canned(body=body))

    with pytest.raises(ProviderError) as caught:
        model_for(anthropic_server, retry).complete(QUESTION)

    assert type(caught.value) is ProviderError
    assert len(anthropic_server.requests) == 1


def test_timeout_is_typed_and_not_retried(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    anthropic_server.enqueue(Canned(body={}, stall_after=0))
    anthropic_server.reply(text="must not be reached")

    with pytest.raises(ProviderTimeout):
        model_for(anthropic_server, retry, timeout=0.3).complete(QUESTION)

    assert len(anthropic_server.requests) == 1


def test_unreachable_server_is_retried_then_unavailable(
    closed_port_url: str, retry: RetryPolicy, clock: Clock
) -> None:
    model = AnthropicChatModel(
        model="claude-test",
        credentials=ProviderCredentials(api_key=SECRET, base_url=closed_port_url),
        retry=retry,
    )

    with pytest.raises(ProviderUnavailable):
        model.complete(QUESTION)

    assert clock.sleeps == [0.5, 1.0]


def test_stream_retries_an_error_event_that_comes_first(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    overloaded = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    anthropic_server.enqueue(Canned(events=[sse_event("error", overloaded)]))
    anthropic_server.reply_stream(text=["Hello"], input_tokens=3, output_tokens=1)

    events = list(model_for(anthropic_server, retry).stream(QUESTION))

    assert TextDelta("Hello") in events
    assert len(anthropic_server.requests) == 2


def test_stream_is_never_retried_after_the_first_event(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    overloaded = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    events = anthropic_server.stream_events(text=["Half an ans", "wer"])
    anthropic_server.enqueue(
        Canned(events=[*events[:4], sse_event("error", overloaded)])
    )
    anthropic_server.reply_stream(text=["must not be reached"])
    seen = []

    with pytest.raises(ProviderUnavailable):
        for event in model_for(anthropic_server, retry).stream(QUESTION):
            seen.append(event)

    assert TextDelta("Half an ans") in seen
    assert len(anthropic_server.requests) == 1
    assert anthropic_server.pending == 1


def test_stream_that_stalls_mid_answer_times_out_without_retry(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    events = anthropic_server.stream_events(text=["one ", "two"])
    anthropic_server.enqueue(Canned(events=events, stall_after=4))
    anthropic_server.reply_stream(text=["must not be reached"])
    seen = []

    with pytest.raises(ProviderTimeout):
        for event in model_for(anthropic_server, retry, timeout=0.3).stream(QUESTION):
            seen.append(event)

    assert TextDelta("one ") in seen
    assert len(anthropic_server.requests) == 1


def test_stream_cut_short_is_an_error_not_an_answer(
    anthropic_server: AnthropicServer, retry: RetryPolicy
) -> None:
    events = anthropic_server.stream_events(text=["Half"])
    anthropic_server.enqueue(Canned(events=events[:4]))

    with pytest.raises(ProviderError, match="before the answer was complete"):
        list(model_for(anthropic_server, retry).stream(QUESTION))


def test_the_key_never_leaks_into_errors_or_logs(
    anthropic_server: AnthropicServer,
    retry: RetryPolicy,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    echo = f"invalid x-api-key {SECRET}"
    error_event = {"type": "error", "error": {"type": "api_error", "message": echo}}
    anthropic_server.enqueue(
        anthropic_server.error(401, echo, "authentication_error"),
        anthropic_server.error(400, echo, "invalid_request_error"),
        *[anthropic_server.error(500, echo)] * 3,
        *[anthropic_server.error(429, echo, "rate_limit_error", {"retry-after": "1"})]
        * 3,
        Canned(body=b"not json " + SECRET.encode()),
        *[Canned(events=[sse_event("error", error_event)])] * 3,
    )
    model = model_for(anthropic_server, retry)
    failures = [model.complete] * 5 + [lambda request: list(model.stream(request))]

    for call in failures:
        with pytest.raises(ProviderError) as caught:
            call(QUESTION)
        assert SECRET not in everything_said(caught.value, all_logs)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None

    assert anthropic_server.pending == 0
    assert SECRET not in repr(model)
