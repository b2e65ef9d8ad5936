"""OpenAI-compatible servers (Ollama, vLLM, llama.cpp) chosen through the registry."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from agents.models import Agent, ModelProvider
from agents.providers import (
    ChatRequest,
    Done,
    ProviderCredentials,
    ProviderNotConfigured,
    StopReason,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
    UserMessage,
    chat_model_for_agent,
)
from tests.agents.conftest import SECRET
from tests.support.llm_servers import Call, Canned, OpenAIServer, sse_data

QUESTION = ChatRequest(
    system="Be brief.",
    messages=(UserMessage("What is Atrium?"),),
    temperature=0.0,
    max_tokens=64,
)


def local_agent(model_name: str = "llama3.2:3b") -> Agent:
    return Agent(model_provider=ModelProvider.OPENAI_COMPATIBLE, model_name=model_name)


@pytest.fixture
def local_server(settings: Settings, openai_server: OpenAIServer) -> OpenAIServer:
    settings.OPENAI_COMPATIBLE_BASE_URL = openai_server.api_url
    settings.OPENAI_COMPATIBLE_API_KEY = ""
    settings.ATRIUM_PROVIDER_MAX_ATTEMPTS = 1
    return openai_server


def test_a_keyless_local_server_gets_no_authorization_header(
    local_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Variables the SDK would read on its own must not reach the server.
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-from-a-shell")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-from-a-shell")
    local_server.reply(text="A RAG platform.", input_tokens=12, output_tokens=4)

    result = chat_model_for_agent(local_agent()).complete(QUESTION)

    assert result.text == "A RAG platform."
    assert result.usage == Usage(12, 4)
    [sent] = local_server.requests
    assert "authorization" not in sent.headers
    assert "openai-organization" not in sent.headers
    assert "openai-project" not in sent.headers
    assert sent.json == {
        "model": "llama3.2:3b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is Atrium?"},
        ],
        "temperature": 0.0,
        # The name these servers understand, not OpenAI's newer one.
        "max_tokens": 64,
    }


def test_a_server_with_a_key_gets_it_as_a_bearer_token(
    local_server: OpenAIServer, settings: Settings
) -> None:
    settings.OPENAI_COMPATIBLE_API_KEY = SECRET
    local_server.reply(text="ok")

    model = chat_model_for_agent(local_agent())
    model.complete(QUESTION)

    assert local_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert model.provider == "openai_compatible"
    assert SECRET not in repr(model)


def test_stream_with_usage_in_the_final_chunk_and_whole_tool_calls(
    local_server: OpenAIServer,
) -> None:
    # llama.cpp and Ollama put usage on the finishing chunk and send each
    # tool call whole rather than in pieces.
    def chunk(delta: dict[str, object], finish: str | None = None) -> dict:
        return {
            "id": "chatcmpl-local",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "llama3.2:3b",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    whole_call = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "text_search", "arguments": '{"query": "atrium"}'},
    }
    finish = chunk({}, "tool_calls")
    finish["usage"] = {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59}
    local_server.enqueue(
        Canned(
            events=[
                sse_data(chunk({"role": "assistant", "content": "Checking."})),
                sse_data(chunk({"tool_calls": [whole_call]})),
                sse_data(finish),
                "data: [DONE]\n\n",
            ]
        )
    )

    events = list(chat_model_for_agent(local_agent()).stream(QUESTION))

    call = ToolCall.from_json(
        id="call_0", name="text_search", raw_arguments='{"query": "atrium"}'
    )
    assert events[:-1] == [
        TextDelta("Checking."),
        ToolCallStart(index=0, id="call_0", name="text_search"),
        ToolCallDelta(index=0, arguments='{"query": "atrium"}'),
        UsageUpdate(Usage(50, 9)),
        ToolCallEnd(index=0, call=call),
    ]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.result.stop_reason is StopReason.TOOL_USE
    assert done.result.tool_calls == (call,)
    assert done.result.usage == Usage(50, 9)


def test_stream_through_the_shared_server_helpers(local_server: OpenAIServer) -> None:
    local_server.reply_stream(
        text=["Hel", "lo"],
        calls=[Call("call_1", "vector_search", ['{"query"', ': "x"}'])],
        input_tokens=5,
        output_tokens=3,
    )

    events = list(chat_model_for_agent(local_agent()).stream(QUESTION))

    result = events[-1].result  # type: ignore[union-attr]
    assert result.text == "Hello"
    assert result.tool_calls[0].arguments == {"query": "x"}
    assert local_server.requests[0].json["stream"] is True


def test_no_base_url_means_not_configured(settings: Settings) -> None:
    settings.OPENAI_COMPATIBLE_BASE_URL = ""

    with pytest.raises(ProviderNotConfigured) as caught:
        chat_model_for_agent(local_agent())

    assert caught.value.code == "provider_unavailable"
    assert not caught.value.retryable


def test_an_organization_server_never_receives_the_platform_key(
    local_server: OpenAIServer, settings: Settings
) -> None:
    settings.OPENAI_COMPATIBLE_API_KEY = SECRET
    with OpenAIServer() as organization_server:
        organization_server.reply(text="from the organization's own server")
        override = ProviderCredentials(base_url=organization_server.api_url)

        result = chat_model_for_agent(local_agent(), credentials=override).complete(
            QUESTION
        )

        assert result.text == "from the organization's own server"
        assert "authorization" not in organization_server.requests[0].headers
    assert local_server.requests == []
