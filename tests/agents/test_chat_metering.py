"""Every chat is metered: answered or failed, with its tools and latency."""

from __future__ import annotations

import pytest

from agents.models import Message
from billing.models import UsageEvent
from tenancy import services as tenancy_services
from tenancy.context import as_user, as_workspace
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import chat, key_for, metered
from tests.agents.test_chat_loop import search_call
from tests.agents.test_chat_stream import parse, stream
from tests.support.llm_servers import OpenAIServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def gpt_agent(settings, tenant_a, openai_server: OpenAIServer):  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = "sk-test-meter-5e4d3c2b1a09f8e7"
    settings.OPENAI_BASE_URL = openai_server.api_url
    documents = stock(tenant_a.workspace)
    agent = make_agent(
        tenant_a.workspace, "gpt", model_provider="openai", model_name="gpt-4o-mini"
    )
    return tenant_a, documents, agent


def events_of(tenant, agent) -> list[UsageEvent]:  # type: ignore[no-untyped-def]
    with as_workspace(tenant.workspace.pk):
        return list(
            UsageEvent.objects.filter(
                workspace=tenant.workspace, agent_id=agent.pk
            ).order_by("created_at")
        )


def test_an_answer_is_metered_with_its_tools_and_latency(
    gpt_agent, openai_server: OpenAIServer
) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = gpt_agent
    openai_server.reply(calls=[search_call()], input_tokens=50, output_tokens=10)
    openai_server.reply(text="Use Forgot password [S1].", input_tokens=300)

    body = metered(lambda: chat(key_for(tenant), tenant.workspace, agent)).json()

    [event] = events_of(tenant, agent)
    assert event.success is True and event.error_code == ""
    assert event.tools_called == ["hybrid_search"]
    assert event.input_tokens == 350
    assert event.latency_ms is not None
    assert 0 <= event.latency_ms <= body["latency_ms"] + 1


def test_a_step_limit_failure_is_metered_with_the_tokens_spent(
    settings, gpt_agent, openai_server: OpenAIServer
) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_CHAT_MAX_STEPS = 2
    tenant, _documents, agent = gpt_agent
    for step in range(3):
        openai_server.reply(
            calls=[search_call(call_id=f"c{step}")], input_tokens=100, output_tokens=5
        )

    response = metered(lambda: chat(key_for(tenant), tenant.workspace, agent))

    assert response.status_code == 422
    [event] = events_of(tenant, agent)
    assert (event.success, event.error_code) == (False, "step_limit_reached")
    assert (event.input_tokens, event.output_tokens) == (200, 10)
    assert event.tools_called == ["hybrid_search"]
    assert event.estimated_cost_usd > 0
    with as_workspace(tenant.workspace.pk):
        # The answer itself is not kept; only its usage.
        assert not Message.objects.filter(workspace=tenant.workspace).exists()


def test_a_budget_stop_is_metered(gpt_agent, openai_server: OpenAIServer) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = gpt_agent
    with as_user(tenant.owner.pk):
        tenancy_services.workspace_update(
            workspace=tenant.workspace, fields={"settings": {"chat_token_budget": 500}}
        )
    openai_server.reply(calls=[search_call()], input_tokens=600, output_tokens=10)

    response = metered(lambda: chat(key_for(tenant), tenant.workspace, agent))

    assert response.json()["error"]["code"] == "token_budget_exhausted"
    [event] = events_of(tenant, agent)
    assert (event.success, event.error_code) == (False, "token_budget_exhausted")
    assert event.total_tokens == 610


def test_a_provider_failure_after_a_turn_is_metered(
    settings, gpt_agent, openai_server: OpenAIServer
) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_PROVIDER_MAX_ATTEMPTS = 1
    tenant, _documents, agent = gpt_agent
    openai_server.reply(calls=[search_call()], input_tokens=70, output_tokens=4)
    openai_server.enqueue(openai_server.error(500, "overloaded"))

    response = metered(lambda: chat(key_for(tenant), tenant.workspace, agent))

    assert response.status_code >= 500
    [event] = events_of(tenant, agent)
    assert event.success is False
    assert event.error_code == response.json()["error"]["code"]
    assert (event.input_tokens, event.output_tokens) == (70, 4)


def test_a_failed_stream_is_metered(
    settings, gpt_agent, openai_server: OpenAIServer
) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_CHAT_MAX_STEPS = 1
    tenant, _documents, agent = gpt_agent
    openai_server.reply_stream(calls=[search_call()], input_tokens=30, output_tokens=3)

    events = metered(
        lambda: parse(
            b"".join(stream(key_for(tenant), tenant.workspace, agent).streaming_content)
        )
    )

    assert events[-1]["data"]["code"] == "step_limit_reached"
    [event] = events_of(tenant, agent)
    assert (event.success, event.error_code) == (False, "step_limit_reached")
    assert str(event.session_id) == events[0]["data"]["session_id"]
    assert event.total_tokens == 33
