"""The OpenAI adapter against a local server speaking chat completions."""

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
    StreamAssembler,
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
from agents.providers.openai_chat import OpenAIChatModel
from tests.agents.conftest import SECRET, Clock, everything_said
from tests.support.llm_servers import Call, Canned, OpenAIServer, sse_data

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
    server: OpenAIServer, retry: RetryPolicy, timeout: float = 5.0
) -> OpenAIChatModel:
    return OpenAIChatModel(
        model="gpt-test",
        credentials=ProviderCredentials(api_key=SECRET, base_url=server.api_url),
        timeout=timeout,
        retry=retry,
    )


def test_plain_completion(openai_server: OpenAIServer, retry: RetryPolicy) -> None:
    openai_server.reply(text="Use the reset link.", input_tokens=21, output_tokens=5)

    result = model_for(openai_server, retry).complete(QUESTION)

    assert result.text == "Use the reset link."
    assert result.tool_calls == ()
    assert result.stop_reason is StopReason.END_TURN
    assert result.usage == Usage(input_tokens=21, output_tokens=5)
    assert result.model == "gpt-test"


def test_request_carries_system_prompt_temperature_and_key(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.reply(text="ok")

    model_for(openai_server, retry).complete(QUESTION)

    [sent] = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You answer from the handbook."},
            {"role": "user", "content": "How do I reset my password?"},
        ],
        "temperature": 0.2,
        "max_completion_tokens": 300,
    }


def test_request_carries_tools_and_the_tool_exchange(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.reply(text="It is in the handbook.")
    earlier_call = ToolCall(
        id="call_1", name="hybrid_search", arguments={"query": "password reset"}
    )
    request = ChatRequest(
        system="",
        messages=(
            UserMessage("How do I reset my password?"),
            AssistantMessage(content="", tool_calls=(earlier_call,)),
            ToolResultMessage(tool_call_id="call_1", content="[1] Reset via email."),
        ),
        tools=(SEARCH,),
    )

    model_for(openai_server, retry).complete(request)

    body = openai_server.requests[0].json
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "hybrid_search",
                "description": "Search the workspace's documents.",
                "parameters": SEARCH.parameters,
            },
        }
    ]
    assert body["messages"] == [
        {"role": "user", "content": "How do I reset my password?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "hybrid_search",
                        "arguments": '{"query": "password reset"}',
                    },
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "[1] Reset via email."},
    ]
    assert "temperature" not in body
    assert "max_completion_tokens" not in body


def test_several_tool_calls_in_one_turn(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.reply(
        calls=[
            Call("call_a", "hybrid_search", ['{"query": "reset"}']),
            Call("call_b", "list_documents", ["{}"]),
        ],
        input_tokens=40,
        output_tokens=18,
    )

    result = model_for(openai_server, retry).complete(QUESTION)

    assert result.stop_reason is StopReason.TOOL_USE
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_a", "hybrid_search", {"query": "reset"}),
        ("call_b", "list_documents", {}),
    ]
    assert result.text == ""
    assert result.usage == Usage(40, 18)


def test_unparseable_tool_arguments_are_reported_on_the_call(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.reply(calls=[Call("call_a", "hybrid_search", ['{"query": '])])

    [call] = model_for(openai_server, retry).complete(QUESTION).tool_calls

    assert call.arguments == {}
    assert call.raw_arguments == '{"query": '
    assert call.parse_error is not None


def test_stream_text_and_usage(openai_server: OpenAIServer, retry: RetryPolicy) -> None:
    openai_server.reply_stream(
        text=["Use the ", "reset link."], input_tokens=21, output_tokens=5
    )

    events = list(model_for(openai_server, retry).stream(QUESTION))

    assert events[:-1] == [
        TextDelta("Use the "),
        TextDelta("reset link."),
        UsageUpdate(Usage(21, 5)),
    ]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.result.text == "Use the reset link."
    assert done.result.stop_reason is StopReason.END_TURN
    assert done.result.usage == Usage(21, 5)
    body = openai_server.requests[0].json
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_stream_tool_calls_with_arguments_split_across_chunks(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    calls = [
        Call("call_a", "hybrid_search", ['{"que', 'ry": "pass', 'word reset"}']),
        Call("call_b", "get_document", ['{"document_id": ', '"d-1"}']),
    ]
    openai_server.reply_stream(calls=calls, input_tokens=30, output_tokens=12)

    events = list(model_for(openai_server, retry).stream(QUESTION))

    assert events[:-1] == [
        ToolCallStart(index=0, id="call_a", name="hybrid_search"),
        ToolCallDelta(index=0, arguments='{"que'),
        ToolCallDelta(index=0, arguments='ry": "pass'),
        ToolCallDelta(index=0, arguments='word reset"}'),
        ToolCallStart(index=1, id="call_b", name="get_document"),
        ToolCallDelta(index=1, arguments='{"document_id": '),
        ToolCallDelta(index=1, arguments='"d-1"}'),
        ToolCallEnd(
            index=0,
            call=ToolCall.from_json(
                id="call_a",
                name="hybrid_search",
                raw_arguments='{"query": "password reset"}',
            ),
        ),
        ToolCallEnd(
            index=1,
            call=ToolCall.from_json(
                id="call_b", name="get_document", raw_arguments='{"document_id": "d-1"}'
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
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    calls = [Call("call_a", "hybrid_search", ['{"query":', ' "reset"}'])]
    openai_server.reply(text="Searching.", calls=calls, input_tokens=9, output_tokens=4)
    openai_server.reply_stream(
        text=["Search", "ing."], calls=calls, input_tokens=9, output_tokens=4
    )
    model = model_for(openai_server, retry)

    completed = model.complete(QUESTION)
    events = list(model.stream(QUESTION))
    assembler = StreamAssembler(model="gpt-test")
    for event in events[:-1]:
        assembler.add(event)

    assert isinstance(events[-1], Done)
    assert events[-1].result == completed
    assert assembler.result(StopReason.TOOL_USE) == completed


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (401, ProviderAuthFailed, "provider_auth_failed"),
        (403, ProviderAuthFailed, "provider_auth_failed"),
        (400, ProviderBadRequest, "provider_bad_request"),
        (404, ProviderBadRequest, "provider_bad_request"),
        (422, ProviderBadRequest, "provider_bad_request"),
    ],
)
def test_client_errors_are_typed_and_never_retried(
    openai_server: OpenAIServer,
    retry: RetryPolicy,
    clock: Clock,
    status: int,
    error_type: type[ProviderError],
    code: str,
) -> None:
    openai_server.enqueue(openai_server.error(status, "model not found"))
    openai_server.reply(text="must not be reached")

    with pytest.raises(error_type) as caught:
        model_for(openai_server, retry).complete(QUESTION)

    assert caught.value.code == code
    assert caught.value.status == status
    assert caught.value.provider == "openai"
    assert len(openai_server.requests) == 1
    assert clock.sleeps == []


def test_bad_request_keeps_the_vendor_explanation(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.enqueue(openai_server.error(400, "max_tokens is too large"))

    with pytest.raises(ProviderBadRequest, match="max_tokens is too large"):
        model_for(openai_server, retry).complete(QUESTION)


def test_server_errors_are_retried_with_backoff_then_given_up(
    openai_server: OpenAIServer, retry: RetryPolicy, clock: Clock
) -> None:
    openai_server.enqueue(*[openai_server.error(500, "boom")] * 3)

    with pytest.raises(ProviderError) as caught:
        model_for(openai_server, retry).complete(QUESTION)

    assert caught.value.code == "provider_error"
    assert caught.value.status == 500
    assert len(openai_server.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_a_server_error_then_success_returns_the_answer(
    openai_server: OpenAIServer, retry: RetryPolicy, clock: Clock
) -> None:
    openai_server.enqueue(openai_server.error(502, "bad gateway"))
    openai_server.reply(text="Second time lucky.")

    result = model_for(openai_server, retry).complete(QUESTION)

    assert result.text == "Second time lucky."
    assert len(openai_server.requests) == 2
    assert clock.sleeps == [0.5]


def test_overloaded_is_unavailable_and_retried(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.enqueue(*[openai_server.error(503, "overloaded")] * 3)

    with pytest.raises(ProviderUnavailable) as caught:
        model_for(openai_server, retry).complete(QUESTION)

    assert caught.value.code == "provider_unavailable"
    assert len(openai_server.requests) == 3


def test_rate_limit_waits_as_long_as_retry_after_says(
    openai_server: OpenAIServer, retry: RetryPolicy, clock: Clock
) -> None:
    openai_server.enqueue(openai_server.error(429, "slow down", {"retry-after": "2"}))
    openai_server.reply(text="ok")

    assert model_for(openai_server, retry).complete(QUESTION).text == "ok"
    assert clock.sleeps == [2.0]
    assert len(openai_server.requests) == 2


def test_rate_limit_that_persists_reports_retry_after(
    openai_server: OpenAIServer, retry: RetryPolicy, clock: Clock
) -> None:
    limited = openai_server.error(429, "slow down", {"retry-after-ms": "1500"})
    openai_server.enqueue(limited, limited, limited)

    with pytest.raises(ProviderRateLimited) as caught:
        model_for(openai_server, retry).complete(QUESTION)

    assert caught.value.code == "provider_rate_limited"
    assert caught.value.retry_after == 1.5
    assert len(openai_server.requests) == 3
    assert clock.sleeps == [1.5, 1.5]


def test_rate_limit_longer_than_the_policy_allows_is_not_waited_for(
    openai_server: OpenAIServer, retry: RetryPolicy, clock: Clock
) -> None:
    openai_server.enqueue(openai_server.error(429, "quota", {"retry-after": "120"}))

    with pytest.raises(ProviderRateLimited) as caught:
        model_for(openai_server, retry).complete(QUESTION)

    assert caught.value.retry_after == 120.0
    assert len(openai_server.requests) == 1
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "body",
    [
        b"this is not json",
        b'{"object": "chat.completion"}',
        b'{"choices": [{"index": 0}]}',
        b"[1, 2]",
    ],
    ids=["not-json", "no-choices", "no-message", "wrong-type"],
)
def test_malformed_body_is_a_provider_error(
    openai_server: OpenAIServer, retry: RetryPolicy, body: bytes
) -> None:
    openai_server.enqueue(Canned(body=body))

    with pytest.raises(ProviderError) as caught:
        model_for(openai_server, retry).complete(QUESTION)

    assert type(caught.value) is ProviderError
    assert caught.value.code == "provider_error"
    assert len(openai_server.requests) == 1


def test_timeout_is_typed_and_not_retried(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.enqueue(Canned(body={}, stall_after=0))
    openai_server.reply(text="must not be reached")

    with pytest.raises(ProviderTimeout) as caught:
        model_for(openai_server, retry, timeout=0.3).complete(QUESTION)

    assert caught.value.code == "provider_timeout"
    assert len(openai_server.requests) == 1


def test_unreachable_server_is_retried_then_unavailable(
    closed_port_url: str, retry: RetryPolicy, clock: Clock
) -> None:
    model = OpenAIChatModel(
        model="gpt-test",
        credentials=ProviderCredentials(api_key=SECRET, base_url=closed_port_url),
        retry=retry,
    )

    with pytest.raises(ProviderUnavailable) as caught:
        model.complete(QUESTION)

    assert caught.value.retryable
    assert clock.sleeps == [0.5, 1.0]


def test_stream_retries_a_failure_before_the_first_event(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.enqueue(openai_server.error(500, "boom"))
    openai_server.reply_stream(text=["Hello"], input_tokens=3, output_tokens=1)

    events = list(model_for(openai_server, retry).stream(QUESTION))

    assert events[0] == TextDelta("Hello")
    assert len(openai_server.requests) == 2


def test_stream_is_never_retried_after_the_first_event(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    openai_server.enqueue(
        Canned(
            events=[
                openai_server.chunk({"content": "Half an ans"}),
                sse_data({"error": {"message": "overloaded", "type": "server_error"}}),
            ]
        )
    )
    openai_server.reply_stream(text=["must not be reached"])
    seen = []

    with pytest.raises(ProviderError, match="overloaded"):
        for event in model_for(openai_server, retry).stream(QUESTION):
            seen.append(event)

    assert seen == [TextDelta("Half an ans")]
    assert len(openai_server.requests) == 1
    assert openai_server.pending == 1


def test_stream_that_stalls_mid_answer_times_out_without_retry(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    events = openai_server.stream_events(text=["one ", "two"])
    openai_server.enqueue(Canned(events=events, stall_after=2))
    openai_server.reply_stream(text=["must not be reached"])
    seen = []

    with pytest.raises(ProviderTimeout):
        for event in model_for(openai_server, retry, timeout=0.3).stream(QUESTION):
            seen.append(event)

    assert seen == [TextDelta("one ")]
    assert len(openai_server.requests) == 1


def test_stream_cut_short_is_an_error_not_an_answer(
    openai_server: OpenAIServer, retry: RetryPolicy
) -> None:
    events = openai_server.stream_events(text=["Half"])
    openai_server.enqueue(Canned(events=events[:2]))

    with pytest.raises(ProviderError, match="before the answer was complete"):
        list(model_for(openai_server, retry).stream(QUESTION))


def test_the_key_never_leaks_into_errors_or_logs(
    openai_server: OpenAIServer,
    retry: RetryPolicy,
    all_logs: pytest.LogCaptureFixture,
) -> None:
    echo = f"Incorrect API key provided: {SECRET}"
    openai_server.enqueue(
        openai_server.error(401, echo),
        openai_server.error(400, echo),
        *[openai_server.error(500, echo)] * 3,
        *[openai_server.error(429, echo, {"retry-after": "1"})] * 3,
        Canned(body=b"not json " + SECRET.encode()),
        Canned(events=[sse_data({"error": {"message": echo}})]),
    )
    model = model_for(openai_server, retry)
    failures = [model.complete] * 5 + [lambda request: list(model.stream(request))]

    for call in failures:
        with pytest.raises(ProviderError) as caught:
            call(QUESTION)
        assert SECRET not in everything_said(caught.value, all_logs)
        # No SDK exception (holding the request's headers) rides along.
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None

    assert all(
        r.headers["authorization"] == f"Bearer {SECRET}" for r in openai_server.requests
    )
    assert SECRET not in repr(model)
    assert SECRET not in repr(ProviderCredentials(api_key=SECRET))
