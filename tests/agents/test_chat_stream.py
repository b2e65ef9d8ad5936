"""Streamed answers: event order, ids, and resuming with Last-Event-ID."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.chat.streams import client
from agents.models import Message
from tenancy.context import as_workspace
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import PASSWORD, key_for
from tests.support.llm_servers import Call, OpenAIServer

pytestmark = pytest.mark.django_db


def parse(raw: bytes) -> list[dict[str, Any]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append(
            {
                "id": fields["id"],
                "event": fields["event"],
                "data": json.loads(fields["data"]),
            }
        )
    return events


def hang_up(response) -> None:  # type: ignore[no-untyped-def]
    """The client goes away mid-answer: the server closes the response body.

    The test client wraps the body so that closing it closes the response
    with the test's database connection kept open; close through it.
    """
    response._iterator.close()


def stream(api, workspace, agent, **extra):  # type: ignore[no-untyped-def]
    return api.post(
        f"/v1/workspaces/{workspace.pk}/chat",
        {"agent_id": str(agent.pk), "query": PASSWORD, "stream": True},
        **extra,
    )


@pytest.fixture
def stocked(tenant_a):  # type: ignore[no-untyped-def]
    documents = stock(tenant_a.workspace)
    return tenant_a, documents, make_agent(tenant_a.workspace, "support")


@pytest.fixture(autouse=True)
def _no_stream_logs() -> None:
    for key in client().scan_iter("atrium:chat:stream:*"):
        client().delete(key)


def test_events_come_in_order_with_ids(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, documents, agent = stocked

    response = stream(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse(b"".join(response.streaming_content))
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["session", "tool_call", "tool_result"]
    assert set(kinds[3:-1]) == {"token", "citation"}
    assert kinds.index("citation") > max(i for i, k in enumerate(kinds) if k == "token")
    assert kinds[-1] == "done"
    answer_id = events[0]["data"]["answer_id"]
    assert [e["id"] for e in events] == [
        f"{answer_id}:{n}" for n in range(1, len(events) + 1)
    ]
    text = "".join(e["data"]["text"] for e in events if e["event"] == "token")
    done = events[-1]["data"]
    assert done["response"] == text
    assert done["message_id"] == answer_id
    assert "Forgot password" in text
    citations = [e["data"] for e in events if e["event"] == "citation"]
    assert citations[0]["document_id"] == str(documents["password-reset.md"].pk)
    with as_workspace(tenant.workspace.pk):
        stored = Message.objects.get(pk=answer_id)
    assert stored.content == text
    assert stored.citations == citations


def test_a_reconnect_resumes_the_same_answer_after_the_last_event(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    api = key_for(tenant)
    first = stream(api, tenant.workspace, agent)
    chunks = iter(first.streaming_content)
    seen = parse(next(chunks) + next(chunks))  # session, tool_call

    hang_up(first)
    resumed = stream(api, tenant.workspace, agent, HTTP_LAST_EVENT_ID=seen[-1]["id"])
    rest = parse(b"".join(resumed.streaming_content))

    answer_id = seen[0]["data"]["answer_id"]
    assert rest[0]["id"] == f"{answer_id}:3"
    assert rest[0]["event"] == "tool_result"
    assert rest[-1]["event"] == "done"
    assert rest[-1]["data"]["message_id"] == answer_id
    full = parse(
        b"".join(
            stream(
                api, tenant.workspace, agent, HTTP_LAST_EVENT_ID=f"{answer_id}:0"
            ).streaming_content
        )
    )
    assert full[2:] == rest
    with as_workspace(tenant.workspace.pk):
        # The answer was finished and stored once, though nobody was listening.
        assert (
            Message.objects.filter(session_id=seen[0]["data"]["session_id"]).count()
            == 2
        )


def test_resuming_after_the_end_sends_nothing_more(stocked) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    api = key_for(tenant)
    events = parse(b"".join(stream(api, tenant.workspace, agent).streaming_content))

    again = stream(api, tenant.workspace, agent, HTTP_LAST_EVENT_ID=events[-1]["id"])

    assert b"".join(again.streaming_content) == b""


def test_another_caller_or_workspace_cannot_resume_an_answer(stocked, tenant_b) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, agent = stocked
    events = parse(
        b"".join(stream(key_for(tenant), tenant.workspace, agent).streaming_content)
    )
    last = events[1]["id"]
    foreign_agent = make_agent(tenant_b.workspace, "foreign")

    other_key = stream(
        key_for(tenant), tenant.workspace, agent, HTTP_LAST_EVENT_ID=last
    )
    other_workspace = stream(
        key_for(tenant_b), tenant_b.workspace, foreign_agent, HTTP_LAST_EVENT_ID=last
    )
    garbage = stream(key_for(tenant), tenant.workspace, agent, HTTP_LAST_EVENT_ID="x:1")

    for response in (other_key, other_workspace, garbage):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_a_streamed_model_answer_streams_its_tokens(
    settings, stocked, openai_server: OpenAIServer
) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, _agent = stocked
    settings.OPENAI_API_KEY = "sk-test-stream-0a1b2c3d4e5f"
    settings.OPENAI_BASE_URL = openai_server.api_url
    agent = make_agent(
        tenant.workspace, "gpt", model_provider="openai", model_name="gpt-4o"
    )
    openai_server.reply_stream(
        calls=[Call("c1", "hybrid_search", ['{"query": ', '"password reset"}'])],
        input_tokens=30,
        output_tokens=8,
    )
    openai_server.reply_stream(
        text=["Choose ", "Forgot password ", "[S1]."], input_tokens=90, output_tokens=7
    )

    events = parse(
        b"".join(stream(key_for(tenant), tenant.workspace, agent).streaming_content)
    )

    kinds = [e["event"] for e in events]
    assert kinds == [
        "session",
        "tool_call",
        "tool_result",
        "token",
        "token",
        "token",
        "citation",
        "done",
    ]
    assert events[1]["data"]["arguments"] == {"query": "password reset"}
    assert events[-1]["data"]["usage"]["total_tokens"] == 135
    assert all(r.json["stream"] is True for r in openai_server.requests)


def test_a_failure_mid_stream_is_an_error_event(
    settings, stocked, openai_server
) -> None:  # type: ignore[no-untyped-def]
    tenant, _documents, _agent = stocked
    settings.OPENAI_API_KEY = "sk-test-stream-0a1b2c3d4e5f"
    settings.OPENAI_BASE_URL = openai_server.api_url
    settings.ATRIUM_CHAT_MAX_STEPS = 1
    agent = make_agent(
        tenant.workspace, "gpt", model_provider="openai", model_name="gpt-4o"
    )
    openai_server.reply_stream(calls=[Call("c1", "hybrid_search", ['{"query": "x"}'])])

    events = parse(
        b"".join(stream(key_for(tenant), tenant.workspace, agent).streaming_content)
    )

    assert [e["event"] for e in events] == [
        "session",
        "tool_call",
        "tool_result",
        "error",
    ]
    assert events[-1]["data"]["code"] == "step_limit_reached"


def test_without_redis_the_answer_still_streams_and_is_stored(
    settings, stocked, caplog
) -> None:  # type: ignore[no-untyped-def]
    import agents.chat.streams as streams

    tenant, _documents, agent = stocked
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    streams._client = None
    try:
        events = parse(
            b"".join(stream(key_for(tenant), tenant.workspace, agent).streaming_content)
        )
    finally:
        streams._client = None

    assert events[-1]["event"] == "done"
    with as_workspace(tenant.workspace.pk):
        assert Message.objects.filter(pk=events[0]["data"]["answer_id"]).exists()
    warnings = [r for r in caplog.records if r.name == "agents.chat.streams"]
    assert len(warnings) == 1
