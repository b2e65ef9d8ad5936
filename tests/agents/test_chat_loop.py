"""The loop against local OpenAI and Anthropic protocol servers."""

from __future__ import annotations

import json

import pytest

from agents.chat.history import history_window, tokens_estimate
from agents.models import Message
from tenancy import services as tenancy_services
from tenancy.context import as_user, as_workspace
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import chat, key_for
from tests.support.llm_servers import AnthropicServer, Call, OpenAIServer

pytestmark = pytest.mark.django_db

KEY = "sk-test-loop-1f2e3d4c5b6a7988"


@pytest.fixture
def openai_agent(settings, tenant_a, openai_server: OpenAIServer):  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = KEY
    settings.OPENAI_BASE_URL = openai_server.api_url
    documents = stock(tenant_a.workspace)
    agent = make_agent(
        tenant_a.workspace,
        "gpt",
        model_provider="openai",
        model_name="gpt-4o-mini",
        system_prompt="Be brief.",
    )
    return tenant_a, documents, agent


def search_call(query: str = "reset password", call_id: str = "c1") -> Call:
    return Call(call_id, "hybrid_search", [json.dumps({"query": query})])


def test_the_model_calls_a_tool_then_answers_citing_what_it_used(
    openai_agent, openai_server
) -> None:  # type: ignore[no-untyped-def]
    tenant, documents, agent = openai_agent
    openai_server.reply(calls=[search_call()], input_tokens=50, output_tokens=10)
    openai_server.reply(
        text="Choose Forgot password on the sign-in page [S1].",
        input_tokens=300,
        output_tokens=20,
    )

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["response"] == "Choose Forgot password on the sign-in page [S1]."
    [citation] = body["citations"]
    assert citation["label"] == "S1"
    assert citation["document_id"] == str(documents["password-reset.md"].pk)
    assert body["usage"]["input_tokens"] == 350
    assert body["usage"]["output_tokens"] == 30
    assert float(body["usage"]["estimated_cost_usd"]) > 0
    assert body["steps"] == 2

    first, second = (r.json for r in openai_server.requests)
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][0]["content"].startswith("Be brief.")
    assert {t["function"]["name"] for t in first["tools"]} == {
        "hybrid_search",
        "vector_search",
    }
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["tool_call_id"] == "c1"
    result = json.loads(tool_message["content"])
    assert result["results"][0]["source"] == "S1"
    assert "Forgot password" in result["results"][0]["content"]


def test_only_cited_sources_are_returned_when_the_answer_cites(
    openai_agent, openai_server
) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = openai_agent
    openai_server.reply(calls=[search_call()])
    openai_server.reply(text="See [S2].")

    body = chat(key_for(tenant), tenant.workspace, agent).json()

    assert [c["label"] for c in body["citations"]] == ["S2"]


def test_a_tool_error_goes_back_to_the_model(openai_agent, openai_server) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = openai_agent
    openai_server.reply(calls=[Call("c1", "list_documents", ["{}"])])
    openai_server.reply(calls=[Call("c2", "hybrid_search", ['{"query": 5}'])])
    openai_server.reply(calls=[Call("c3", "hybrid_search", ["{not json"])])
    openai_server.reply(text="I could not search.")

    body = chat(key_for(tenant), tenant.workspace, agent).json()

    assert body["response"] == "I could not search."
    assert [(c["name"], c["error_code"]) for c in body["tool_calls"]] == [
        ("list_documents", "tool_not_enabled"),
        ("hybrid_search", "invalid_arguments"),
        ("hybrid_search", "invalid_arguments"),
    ]
    assert body["citations"] == []
    last = openai_server.requests[-1].json["messages"]
    errors = [
        json.loads(m["content"])["error"]["code"] for m in last if m["role"] == "tool"
    ]
    assert errors == ["tool_not_enabled", "invalid_arguments", "invalid_arguments"]


def test_the_step_limit_stops_a_model_that_keeps_calling_tools(
    settings, openai_agent, openai_server
) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_CHAT_MAX_STEPS = 3
    tenant, _documents, agent = openai_agent
    for step in range(5):
        openai_server.reply(calls=[search_call(call_id=f"c{step}")])

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "step_limit_reached"
    assert len(openai_server.requests) == 3
    with as_workspace(tenant.workspace.pk):
        assert not Message.objects.filter(workspace=tenant.workspace).exists()


def test_the_token_budget_stops_a_runaway_loop(openai_agent, openai_server) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = openai_agent
    with as_user(tenant.owner.pk):
        tenancy_services.workspace_update(
            workspace=tenant.workspace, fields={"settings": {"chat_token_budget": 1000}}
        )
    openai_server.reply(
        calls=[search_call("a", "c1")], input_tokens=600, output_tokens=10
    )
    openai_server.reply(
        calls=[search_call("b", "c2")], input_tokens=700, output_tokens=10
    )
    openai_server.reply(text="never asked for")

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "token_budget_exhausted"
    assert error["details"] == {"budget": 1000, "used": 1320}
    assert len(openai_server.requests) == 2


def test_provider_failures_are_clear_errors_without_secrets(
    settings, openai_agent, openai_server
) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_PROVIDER_MAX_ATTEMPTS = 1
    tenant, _documents, agent = openai_agent
    openai_server.enqueue(openai_server.error(401, f"bad key {KEY}"))

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "provider_auth_failed"
    assert KEY not in response.content.decode()


def test_an_unconfigured_provider_is_unavailable(settings, tenant_a) -> None:  # type: ignore[no-untyped-def]
    settings.ANTHROPIC_API_KEY = ""
    agent = make_agent(tenant_a.workspace, "claude", model_provider="anthropic")

    response = chat(key_for(tenant_a), tenant_a.workspace, agent)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"


def test_the_loop_runs_on_anthropic_too(
    settings, tenant_a, anthropic_server: AnthropicServer
) -> None:  # type: ignore[no-untyped-def]
    settings.ANTHROPIC_API_KEY = KEY
    settings.ANTHROPIC_BASE_URL = anthropic_server.base_url
    documents = stock(tenant_a.workspace)
    agent = make_agent(
        tenant_a.workspace,
        "claude",
        model_provider="anthropic",
        model_name="claude-sonnet-4",
    )
    anthropic_server.reply(calls=[search_call()], input_tokens=40, output_tokens=5)
    anthropic_server.reply(
        text="Use Forgot password [S1].", input_tokens=200, output_tokens=9
    )

    body = chat(key_for(tenant_a), tenant_a.workspace, agent).json()

    assert body["response"] == "Use Forgot password [S1]."
    assert body["citations"][0]["document_id"] == str(documents["password-reset.md"].pk)
    sent = anthropic_server.requests[1].json["messages"][-1]
    assert sent["role"] == "user"
    assert sent["content"][0]["type"] == "tool_result"


def test_session_history_is_sent_within_its_budget(
    settings, openai_agent, openai_server
) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = openai_agent
    api = key_for(tenant)
    openai_server.reply(text="first answer " + "x" * 400)
    session = chat(api, tenant.workspace, agent, "first question").json()["session_id"]
    openai_server.reply(text="second answer")
    chat(api, tenant.workspace, agent, "second question", session_id=session)
    settings.ATRIUM_CHAT_HISTORY_TOKENS = 40
    openai_server.reply(text="third answer")

    chat(api, tenant.workspace, agent, "third question", session_id=session)

    sent = [
        (m["role"], m["content"])
        for m in openai_server.requests[-1].json["messages"][1:]
    ]
    assert sent == [
        ("user", "second question"),
        ("assistant", "second answer"),
        ("user", "third question"),
    ]
    assert "first" not in json.dumps(openai_server.requests[-1].json["messages"])


def test_the_history_window_drops_whole_turns_and_starts_with_a_user() -> None:
    def message(role: str, content: str) -> Message:
        return Message(role=role, content=content)

    turns = [
        message("user", "q1"),
        message("assistant", "a" * 100),
        message("user", "q2"),
        message("assistant", "a2"),
    ]

    assert [m.content for m in history_window(turns, budget=1000)] == [
        "q1",
        "a" * 100,
        "q2",
        "a2",
    ]
    window = history_window(turns, budget=tokens_estimate("q2") + tokens_estimate("a2"))
    assert [m.content for m in window] == ["q2", "a2"]
    # An assistant turn that would open the window is dropped with its question.
    window = history_window(turns, budget=tokens_estimate("a2"))
    assert window == []
