"""POST /chat and the sessions API, with the offline extractive default."""

from __future__ import annotations

import pytest
from django.test import TestCase

from agents.models import ChatSession, Message
from billing import services as billing_services
from billing.models import UsageEvent
from knowledge.models import Chunk
from tenancy import services as tenancy_services
from tenancy.context import as_user, as_workspace
from tests.agents.support import make_agent, stock
from tests.api.conftest import Api, user_api
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db

PASSWORD = "How do I reset my password?"


def key_for(tenant, scopes=("chat",)):  # type: ignore[no-untyped-def]
    with as_user(tenant.owner.pk):
        created = tenancy_services.api_key_create(
            workspace=tenant.workspace, name="k", scopes=list(scopes)
        )
    return Api(created.raw_key)


def chat(api, workspace, agent, query=PASSWORD, **body):  # type: ignore[no-untyped-def]
    return api.post(
        f"/v1/workspaces/{workspace.pk}/chat",
        {"agent_id": str(agent.pk), "query": query, **body},
    )


@pytest.fixture
def stocked(tenant_a):  # type: ignore[no-untyped-def]
    documents = stock(tenant_a.workspace)
    agent = make_agent(tenant_a.workspace, "support")
    return tenant_a, documents, agent


def test_complete_workflow() -> None:
    """Organization → workspace → agent → documents → key → chat (the design's)."""
    tenant = make_tenant("flow")
    owner = user_api(tenant.owner)
    created = owner.post(
        f"/v1/workspaces/{tenant.workspace.pk}/agents",
        {
            "name": "Support Bot",
            "slug": "support-bot",
            "system_prompt": "You are a helpful support agent.",
            "enabled_tools": ["vector_search", "hybrid_search"],
        },
    )
    assert created.status_code == 201, created.json()
    documents = stock(tenant.workspace)
    api = key_for(tenant)

    response = api.post(
        f"/v1/workspaces/{tenant.workspace.pk}/chat",
        {"agent_id": created.json()["id"], "query": PASSWORD},
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert "password" in body["response"].lower()
    assert "extractive answer" in body["response"]
    assert body["citations"][0]["document_id"] == str(documents["password-reset.md"].pk)
    assert "Forgot password" in body["response"]
    assert body["tools_used"] == ["hybrid_search"]
    assert body["usage"]["total_tokens"] == 0


def test_agent_shares_workspace_knowledge(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, documents, first = stocked
    second = make_agent(tenant.workspace, "second", enabled_tools=["text_search"])
    api = key_for(tenant)

    answers = [chat(api, tenant.workspace, agent).json() for agent in (first, second)]

    expected = str(documents["password-reset.md"].pk)
    for answer in answers:
        assert expected in {c["document_id"] for c in answer["citations"]}


def test_citations_point_at_real_chunks_of_the_workspace(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked

    body = chat(key_for(tenant), tenant.workspace, agent).json()

    assert body["citations"]
    with as_workspace(tenant.workspace.pk):
        for citation in body["citations"]:
            chunk = Chunk.objects.get(pk=citation["chunk_id"])
            assert chunk.workspace_id == tenant.workspace.pk
            assert str(chunk.document_id) == citation["document_id"]
            assert chunk.content.startswith(citation["snippet"][:50])
            assert f"[{citation['label']}]" in body["response"]


def metered(run):  # type: ignore[no-untyped-def]
    """Run a request and let its usage events reach the database.

    Billing may write an event at once or buffer it after commit and flush
    it later; either way it must land.
    """
    with TestCase.captureOnCommitCallbacks(execute=True):
        result = run()
    flush = getattr(billing_services, "usage_events_flush", None)
    if flush is not None:
        flush()
    return result


def test_the_answer_is_stored_with_its_tool_calls_and_metered(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked

    body = metered(lambda: chat(key_for(tenant), tenant.workspace, agent)).json()

    with as_workspace(tenant.workspace.pk):
        user, answer = Message.objects.filter(session_id=body["session_id"])
        event = UsageEvent.objects.get(session_id=body["session_id"])
    assert (user.role, user.content) == ("user", PASSWORD)
    assert answer.role == "assistant"
    assert str(answer.pk) == body["message_id"]
    assert answer.content == body["response"]
    assert answer.citations == body["citations"]
    assert [c["name"] for c in answer.tool_calls] == ["hybrid_search"]
    assert answer.metadata["tools_used"] == ["hybrid_search"]
    assert answer.metadata["usage_event_id"] == str(event.pk)
    assert answer.metadata["latency_ms"] >= 0
    assert event.event_type == "chat"
    assert event.agent_id == agent.pk
    assert event.api_key_id is not None and event.user_id is None
    assert event.model_name == "extractive"


def test_a_session_continues_and_is_listed_read_and_deleted(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    api = key_for(tenant)
    first = chat(api, tenant.workspace, agent).json()

    again = chat(
        api,
        tenant.workspace,
        agent,
        "What about refunds?",
        session_id=first["session_id"],
    )
    base = f"/v1/workspaces/{tenant.workspace.pk}/chat/sessions"
    listed = api.get(base).json()
    read = api.get(f"{base}/{first['session_id']}").json()

    assert again.status_code == 200
    assert again.json()["session_id"] == first["session_id"]
    assert [s["id"] for s in listed["results"]] == [first["session_id"]]
    assert listed["results"][0]["message_count"] == 4
    assert [m["role"] for m in read["messages"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert read["messages"][1]["citations"] == first["citations"]

    assert api.delete(f"{base}/{first['session_id']}").status_code == 204
    assert api.get(f"{base}/{first['session_id']}").status_code == 404
    with as_workspace(tenant.workspace.pk):
        assert not ChatSession.objects.filter(pk=first["session_id"]).exists()


def test_a_session_of_another_agent_workspace_or_caller_is_not_found(
    stocked, tenant_b
) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    other_agent = make_agent(tenant.workspace, "other")
    api = key_for(tenant)
    session = chat(api, tenant.workspace, agent).json()["session_id"]
    foreign_agent = make_agent(tenant_b.workspace, "foreign")
    foreign_session = chat(key_for(tenant_b), tenant_b.workspace, foreign_agent).json()[
        "session_id"
    ]
    base = f"/v1/workspaces/{tenant.workspace.pk}/chat/sessions"

    with_other_agent = chat(api, tenant.workspace, other_agent, session_id=session)
    with_foreign = chat(api, tenant.workspace, agent, session_id=foreign_session)
    another_key = key_for(tenant)
    by_another_key = chat(another_key, tenant.workspace, agent, session_id=session)

    for response in (with_other_agent, with_foreign, by_another_key):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert another_key.get(f"{base}/{session}").status_code == 404
    assert another_key.delete(f"{base}/{session}").status_code == 404
    assert api.get(f"{base}/{foreign_session}").status_code == 404
    with as_workspace(tenant.workspace.pk):
        # Refused requests stored nothing.
        assert Message.objects.filter(session_id=session).count() == 2


def test_an_agent_never_retrieves_or_cites_another_workspace(stocked, tenant_b) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    canary = "The vault combination for Project Heron is teal-5512."
    foreign = stock(tenant_b.workspace, {"heron.md": f"# Heron\n\n{canary}"})

    body = chat(
        key_for(tenant), tenant.workspace, agent, "Project Heron vault combination"
    ).json()

    assert "teal-5512" not in str(body)
    assert str(foreign["heron.md"].pk) not in str(body)
    assert all(
        c["document_id"] != str(foreign["heron.md"].pk) for c in body["citations"]
    )


def test_an_agent_of_another_workspace_is_not_found(stocked, tenant_b) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, _agent = stocked
    foreign_agent = make_agent(tenant_b.workspace, "foreign")

    response = chat(key_for(tenant), tenant.workspace, foreign_agent)

    assert response.status_code == 404


def test_an_inactive_agent_refuses(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, _agent = stocked
    agent = make_agent(tenant.workspace, "off", is_active=False)

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "agent_inactive"
    with as_workspace(tenant.workspace.pk):
        assert not ChatSession.objects.filter(agent=agent).exists()


def test_an_extractive_agent_without_a_search_tool_refuses(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, _agent = stocked
    agent = make_agent(tenant.workspace, "blind", enabled_tools=["list_documents"])

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "tool_disabled"


def test_an_exhausted_daily_budget_refuses(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    with as_user(tenant.owner.pk):
        tenancy_services.workspace_update(
            workspace=tenant.workspace,
            fields={"settings": {"chat_daily_token_budget": 100}},
        )
    with as_workspace(tenant.workspace.pk):
        UsageEvent.objects.create(
            workspace=tenant.workspace,
            organization_id=tenant.organization.pk,
            event_type="chat",
            input_tokens=80,
            output_tokens=20,
            total_tokens=100,
        )

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "token_budget_exhausted"


def test_bad_input_is_refused_with_a_stable_code(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    api = key_for(tenant)
    url = f"/v1/workspaces/{tenant.workspace.pk}/chat"

    for body in (
        {"query": "x"},
        {"agent_id": "nope", "query": "x"},
        {"agent_id": str(agent.pk), "query": ""},
        {"agent_id": str(agent.pk), "query": "x", "workspace_id": "y"},
        {"agent_id": str(agent.pk), "query": "x" * 8001},
    ):
        response = api.post(url, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"


def test_a_key_without_the_chat_scope_is_refused(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked

    response = chat(key_for(tenant, scopes=("search",)), tenant.workspace, agent)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
