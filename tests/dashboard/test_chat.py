"""The chat page: sessions, a streamed answer, citations, errors, isolation."""

# Fixtures imported from tests/api/conftest.py are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from agents.answers import answer_blocks
from agents.chat.streams import client as stream_client
from agents.models import ChatSession, Message
from knowledge.models import Chunk
from tenancy.context import as_user, as_workspace
from tests.agents.support import make_agent, stock
from tests.api.conftest import World, world  # noqa: F401  (fixture)
from tests.dashboard.test_settings_support import (
    WORKSPACE_PERSONAS,
    browser,
    html,
    strict_templates,  # noqa: F401  (fixture)
)
from tests.support.tenants import make_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

QUESTION = "How do I reset my password?"


def chat_url(workspace: Any, suffix: str = "") -> str:
    return f"/app/w/{workspace.pk}/chat/{suffix}"


def parse(raw: bytes) -> list[dict[str, Any]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append(
            {
                "id": fields.get("id"),
                "event": fields["event"],
                "data": json.loads(fields["data"]),
            }
        )
    return events


def refusal(response: Any) -> dict[str, Any]:
    """The one ``error`` event of an answer that could not start."""
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = parse(response.content)
    assert [e["event"] for e in events] == ["error"]
    return events[0]["data"]


def events_of(response: Any) -> list[dict[str, Any]]:
    """Read a streamed answer to its end."""
    return parse(b"".join(response.streaming_content))


def ask(
    client: Client, workspace: Any, agent: Any, *, query: str = QUESTION, **extra: Any
) -> Any:
    data = {"agent": str(agent.pk), "query": query, **extra}
    return client.post(chat_url(workspace, "answer/"), data)


def sessions_of(user: Any, workspace: Any) -> list[ChatSession]:
    with as_user(user.pk):
        return list(ChatSession.objects.filter(workspace=workspace, user=user))


@pytest.fixture(autouse=True)
def _no_stream_logs() -> None:
    for key in stream_client().scan_iter("atrium:chat:stream:*"):
        stream_client().delete(key)


@pytest.fixture
def stocked(world: World) -> Any:
    """Workspace A1 with real ingested documents and an extractive agent."""
    documents = stock(world.a1)
    agent = make_agent(world.a1, "support", name="Support desk")
    return documents, agent


# --- Pages and roles


@pytest.mark.parametrize("persona", WORKSPACE_PERSONAS)
def test_every_role_may_chat(world: World, persona: str) -> None:
    page = html(browser(world, persona).get(chat_url(world.a1)))

    assert world.agents["a1"].name in page
    assert "data-chat-form" in page and 'name="csrfmiddlewaretoken"' in page
    assert world.agents["a2"].name not in page  # another workspace's agent
    assert world.agents["b1"].name not in page


def test_viewers_see_no_agent_controls(world: World) -> None:
    viewer = html(browser(world, "ws_viewer").get(chat_url(world.a1, "?agent=x")))
    owner = html(browser(world, "owner").get(chat_url(world.a1)))

    assert "data-chat-form" in viewer
    assert "Activate it" not in viewer and "Manage agents" not in viewer
    assert "data-chat-form" in owner


def test_outsiders_and_strangers_get_404(world: World) -> None:
    assert browser(world, "outsider").get(chat_url(world.a1)).status_code == 404
    assert browser(world, "org_only").get(chat_url(world.a1)).status_code == 404
    assert browser(world, "owner").get(chat_url(world.b1)).status_code == 404
    response = browser(world, "anonymous").get(chat_url(world.a1))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_workspace_without_active_agents_says_so(world: World) -> None:
    with as_workspace(world.a2.pk):
        world.agents["a2"].is_active = False
        world.agents["a2"].save(update_fields=["is_active"])

    page = html(browser(world, "owner").get(chat_url(world.a2)))

    assert "No active agent" in page and "inactive" in page
    assert "data-chat-form" not in page


# --- A streamed answer through the dashboard


def test_a_streamed_answer_cites_real_chunks_of_this_workspace(
    world: World, stocked: Any
) -> None:
    documents, agent = stocked
    member = world.users["org_member"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    client.get(chat_url(world.a1))  # the page sets the CSRF cookie
    token = client.cookies["csrftoken"].value

    response = client.post(
        chat_url(world.a1, "answer/"),
        {"agent": str(agent.pk), "query": QUESTION},
        HTTP_X_CSRFTOKEN=token,
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = events_of(response)
    kinds = [e["event"] for e in events]
    assert kinds[:3] == ["session", "tool_call", "tool_result"]
    tokens = [i for i, k in enumerate(kinds) if k == "token"]
    citations = [i for i, k in enumerate(kinds) if k == "citation"]
    assert tokens and citations and max(tokens) < min(citations)
    assert kinds[-1] == "done" and "error" not in kinds
    answer_id = events[0]["data"]["answer_id"]
    assert [e["id"] for e in events] == [
        f"{answer_id}:{n}" for n in range(1, len(events) + 1)
    ]
    text = "".join(e["data"]["text"] for e in events if e["event"] == "token")
    assert text.startswith("This is an extractive answer")

    first = next(e["data"] for e in events if e["event"] == "citation")
    with as_user(member.pk):
        chunk = Chunk.objects.select_related("document").get(pk=first["chunk_id"])
    assert chunk.workspace_id == world.a1.pk
    assert chunk.document.title == first["document_title"]
    assert first["label"] == "S1" and first["label"] in text
    reset = documents["password-reset.md"]
    assert chunk.document_id == reset.pk

    done = events[-1]["data"]
    session = done["session_id"]
    assert [str(s.pk) for s in sessions_of(member, world.a1)] == [session]

    # The stored answer, as the page swaps it in: numbered markers and sources.
    fragment = html(
        client.get(chat_url(world.a1, f"s/{session}/m/{done['message_id']}/"))
    )
    source_url = chat_url(world.a1, f"s/{session}/m/{done['message_id']}/sources/S1/")
    assert f'hx-get="{source_url}"' in fragment
    assert 'class="cite"' in fragment and "answer__source" in fragment
    assert "hybrid_search" in fragment

    # The marker opens the passage: the chunk's own text and document title.
    passage = html(client.get(source_url))
    assert chunk.document.title in passage
    assert "Forgot password" in passage and "30 minutes" in passage


def test_the_conversation_renders_again_from_its_session(
    world: World, stocked: Any
) -> None:
    _documents, agent = stocked
    client = browser(world, "owner")
    events = events_of(ask(client, world.a1, agent))
    session = events[0]["data"]["session_id"]

    page = html(client.get(chat_url(world.a1, f"s/{session}/")))

    assert QUESTION in page
    assert "This is an extractive answer" in page
    assert re.search(r'<button type="button" class="cite"[^>]*>1</button>', page)
    assert f'value="{session}"' in page  # the next question continues it
    listing = html(client.get(chat_url(world.a1, f"sessions/?current={session}")))
    assert 'aria-current="page"' in listing and QUESTION in listing


def test_a_dropped_stream_resumes_with_last_event_id(
    world: World, stocked: Any
) -> None:
    _documents, agent = stocked
    client = browser(world, "owner")
    events = events_of(ask(client, world.a1, agent))

    resumed = client.post(
        chat_url(world.a1, "answer/"),
        {"agent": str(agent.pk), "query": QUESTION},
        HTTP_LAST_EVENT_ID=events[1]["id"],
    )

    assert resumed.status_code == 200
    assert events_of(resumed) == events[2:]
    # Nobody else resumes it, not even a colleague in the same workspace.
    other = browser(world, "org_member").post(
        chat_url(world.a1, "answer/"),
        {"agent": str(agent.pk), "query": QUESTION},
        HTTP_LAST_EVENT_ID=events[1]["id"],
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"


# --- Errors, with their stable codes


def test_an_inactive_agent_is_refused_with_its_code(world: World) -> None:
    agent = make_agent(world.a1, "resting", is_active=False)

    error = refusal(ask(browser(world, "owner"), world.a1, agent))

    assert (error["code"], error["status"]) == ("agent_inactive", 409)
    assert "activate it" in error["message"]
    assert sessions_of(world.users["owner"], world.a1) == []


def test_an_extractive_agent_without_search_is_refused(world: World) -> None:
    agent = make_agent(world.a1, "blind", enabled_tools=["list_documents"])

    error = refusal(ask(browser(world, "owner"), world.a1, agent))

    assert (error["code"], error["status"]) == ("tool_disabled", 409)
    assert "hybrid_search" in error["tools"]
    assert sessions_of(world.users["owner"], world.a1) == []


def test_an_empty_question_is_a_clear_error(world: World) -> None:
    response = ask(browser(world, "owner"), world.a1, world.agents["a1"], query="  ")

    error = refusal(response)
    assert (error["code"], error["status"]) == ("invalid_request", 400)
    assert error["query"] == ["This field is required."]


def test_the_plan_limits_dashboard_chats_like_api_calls(db: None) -> None:
    tenant = make_tenant("quota", max_monthly_requests=1)
    stock(tenant.workspace, {"a.md": "# Passwords\n\nReset it from the sign-in page."})
    agent = make_agent(tenant.workspace, "helper")
    client = Client()
    client.force_login(tenant.owner)

    first = ask(client, tenant.workspace, agent)
    events_of(first)
    second = ask(client, tenant.workspace, agent)

    assert first.status_code == 200
    error = refusal(second)
    assert (error["code"], error["status"]) == ("monthly_request_limit_exceeded", 429)
    assert error["retry_after"] > 0


def test_a_post_without_the_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["owner"])

    response = ask(client, world.a1, world.agents["a1"])

    assert response.status_code == 403
    assert sessions_of(world.users["owner"], world.a1) == []


# --- Isolation: foreign ids under your own workspace


def test_another_workspaces_agent_is_not_found(world: World) -> None:
    for foreign in (world.agents["b1"], world.agents["a2"]):
        response = ask(browser(world, "owner"), world.a1, foreign)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def _foreign_answer(world: World, stocked: Any) -> tuple[str, str]:
    """A session and answer of org_member's in A1: private to that user."""
    _documents, agent = stocked
    events = events_of(ask(browser(world, "org_member"), world.a1, agent))
    done = events[-1]["data"]
    return done["session_id"], done["message_id"]


def test_someone_elses_session_is_not_found(world: World, stocked: Any) -> None:
    session, message = _foreign_answer(world, stocked)
    owner = browser(world, "owner")

    for path in (
        f"s/{session}/",
        f"s/{session}/m/{message}/",
        f"s/{session}/m/{message}/sources/S1/",
    ):
        assert owner.get(chat_url(world.a1, path)).status_code == 404
    response = owner.post(chat_url(world.a1, f"s/{session}/delete/"))
    assert response.status_code == 404
    continued = ask(owner, world.a1, stocked[1], session=session)
    assert continued.status_code == 404
    member = world.users["org_member"]
    assert [str(s.pk) for s in sessions_of(member, world.a1)] == [session]


def test_another_workspaces_session_is_not_found_under_mine(
    world: World, stocked: Any
) -> None:
    outsider_agent = make_agent(world.b1, "theirs")
    stock(world.b1, {"b.md": "# Secrets\n\nThe vault code is 1234."})
    events = events_of(ask(browser(world, "outsider"), world.b1, outsider_agent))
    done = events[-1]["data"]
    session, message = done["session_id"], done["message_id"]

    outsider = browser(world, "outsider")
    owner = browser(world, "owner")
    for path in (f"s/{session}/", f"s/{session}/m/{message}/"):
        assert outsider.get(chat_url(world.a1, path)).status_code == 404
        assert owner.get(chat_url(world.a1, path)).status_code == 404
    assert outsider.get(chat_url(world.b1, f"s/{session}/")).status_code == 200


def test_a_message_id_from_another_session_is_not_found(
    world: World, stocked: Any
) -> None:
    _documents, agent = stocked
    client = browser(world, "owner")
    first = events_of(ask(client, world.a1, agent))
    second = events_of(ask(client, world.a1, agent))
    other_session = second[-1]["data"]["session_id"]
    message = first[-1]["data"]["message_id"]

    response = client.get(chat_url(world.a1, f"s/{other_session}/m/{message}/"))

    assert response.status_code == 404


# --- Sessions


def test_sessions_list_most_recent_first_and_delete(world: World, stocked: Any) -> None:
    _documents, agent = stocked
    client = browser(world, "ws_viewer")
    asked = []
    for query in ("First question about passwords", "Second question on refunds"):
        events = events_of(ask(client, world.a1, agent, query=query))
        asked.append(events[0]["data"]["session_id"])

    page = html(client.get(chat_url(world.a1)))
    assert page.index("Second question on refunds") < page.index(
        "First question about passwords"
    )

    response = client.post(chat_url(world.a1, f"s/{asked[0]}/delete/"))
    assert response.status_code == 302
    assert [str(s.pk) for s in sessions_of(world.users["ws_viewer"], world.a1)] == [
        asked[1]
    ]
    with as_user(world.users["ws_viewer"].pk):
        assert not Message.objects.filter(session_id=asked[0]).exists()


# --- How an answer reads


def test_answer_text_becomes_blocks_with_numbered_citations() -> None:
    text = (
        "This is an extractive answer.\n\n"
        "[S2] Refunds:\n"
        "> Annual plans are refunded within **14 days**.\n\n"
        "- Use `POST /refunds` [S2, S9]\n"
        "- Or ask support [S1]\n"
        "<script>alert(1)</script>"
    )
    numbers = {"S2": 1, "S1": 2}

    blocks = answer_blocks(text, numbers)

    assert [b.kind for b in blocks] == [
        "paragraph",
        "source",
        "quote",
        "list",
        "paragraph",
    ]
    assert (blocks[1].label, blocks[1].number) == ("S2", 1)
    assert {"kind": "strong", "text": "14 days"} in blocks[2].parts
    first, second = blocks[3].items
    assert {"kind": "code", "text": "POST /refunds"} in first
    assert {"kind": "text", "text": "[S2, S9]"} in first  # S9 was never retrieved
    assert {"kind": "cite", "label": "S1", "number": 2} in second
    assert blocks[4].parts == [{"kind": "text", "text": "<script>alert(1)</script>"}]


def test_a_graph_fact_citation_opens_the_fact_and_its_passage(world: World) -> None:
    owner = world.users["owner"]
    document = stock(
        world.a1, {"team.md": "# Team\n\nAda Lovelace leads the API team."}
    )
    with as_user(owner.pk):
        chunk = Chunk.objects.get(document=document["team.md"])
        session = ChatSession.objects.create(
            workspace=world.a1, agent=world.agents["a1"], user=owner, title="Who?"
        )
        answer = Message.objects.create(
            workspace=world.a1,
            session=session,
            role="assistant",
            content="Ada leads it [S1].",
            model_name="gpt-4o-mini",
            citations=[
                {
                    "label": "S1",
                    "type": "fact",
                    "document_id": str(chunk.document_id),
                    "document_title": "",
                    "chunk_id": str(chunk.pk),
                    "fact_id": "fact-1",
                    "snippet": "Ada Lovelace LEADS API team",
                    "score": 0.91,
                }
            ],
        )
    client = browser(world, "owner")

    fragment = html(client.get(chat_url(world.a1, f"s/{session.pk}/m/{answer.pk}/")))
    panel = html(
        client.get(chat_url(world.a1, f"s/{session.pk}/m/{answer.pk}/sources/S1/"))
    )

    assert "Fact" in fragment and 'aria-label="Source 1"' in fragment
    assert "Knowledge-graph fact" in panel
    assert "Ada Lovelace LEADS API team" in panel
    assert "From the passage" in panel and "leads the API team" in panel
    missing = client.get(
        chat_url(world.a1, f"s/{session.pk}/m/{answer.pk}/sources/S2/")
    )
    assert missing.status_code == 404
