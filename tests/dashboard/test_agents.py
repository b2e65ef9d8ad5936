"""The agents pages: list, create, edit, activate, delete, and the test panel."""

# Fixtures imported from tests/api/conftest.py are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from agents.models import Agent, ChatSession
from agents.services import provider_credential_set
from tenancy.context import as_user, as_workspace
from tenancy.models import AuditLog
from tests.api.conftest import World, world  # noqa: F401  (fixture)
from tests.dashboard.test_settings_support import (
    WORKSPACE_PERSONAS,
    browser,
    html,
    strict_templates,  # noqa: F401  (fixture)
)
from tests.support.tenants import add_agent, make_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

# The API lets members and up write agents (agents/api/views.py).
WRITERS = [p for p, role in WORKSPACE_PERSONAS.items() if role != "viewer"]


def agents_url(workspace: Any, suffix: str = "") -> str:
    return f"/app/w/{workspace.pk}/agents/{suffix}"


def fields(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Billing helper",
        "description": "Answers billing questions.",
        "system_prompt": "Answer billing questions from the documents, briefly.",
        "model_provider": "extractive",
        "model_name": "extractive",
        "temperature": "0.2",
        "max_tokens": "",
        "enabled_tools": ["hybrid_search", "get_document"],
        "tool_config": "",
        "is_active": "on",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def reload(world: World, agent: Agent) -> Agent | None:
    with as_user(world.users["owner"].pk):
        return Agent.objects.filter(pk=agent.pk).first()


# --- Who sees what


@pytest.mark.parametrize(("persona", "role"), WORKSPACE_PERSONAS.items())
def test_the_list_shows_write_controls_only_to_writers(
    world: World, persona: str, role: str
) -> None:
    page = html(browser(world, persona).get(agents_url(world.a1)))

    assert world.agents["a1"].name in page
    assert world.agents["a2"].name not in page and world.agents["b1"].name not in page
    assert "Active" in page
    controls = ("New agent", "Deactivate", "Delete")
    if role == "viewer":
        assert not any(control in page for control in controls)
    else:
        assert all(control in page for control in controls)


@pytest.mark.parametrize(("persona", "role"), WORKSPACE_PERSONAS.items())
def test_the_agent_page_pairs_configuration_and_test_panel(
    world: World, persona: str, role: str
) -> None:
    agent = world.agents["a1"]

    page = html(browser(world, persona).get(agents_url(world.a1, f"{agent.pk}/")))

    assert escape(agent.system_prompt) in page
    assert "data-chat-form" in page  # everyone in the workspace may chat
    assert f'name="agent" value="{agent.pk}"' in page
    if role == "viewer":
        assert "data-agent-form" not in page and "Save changes" not in page
        assert "Deactivate" not in page
    else:
        assert "data-agent-form" in page and "Save changes" in page
        assert re.search(r'value="hybrid_search"[^>]*checked', page)


def test_outsiders_get_404_everywhere(world: World) -> None:
    agent = world.agents["a1"]
    outsider = browser(world, "outsider")

    for path in ("", "new/", f"{agent.pk}/", f"{agent.pk}/delete/"):
        assert outsider.get(agents_url(world.a1, path)).status_code == 404
    assert (
        outsider.post(agents_url(world.a1, f"{agent.pk}/activation/")).status_code
        == 404
    )


@pytest.mark.parametrize("foreign", ["a2", "b1"])
def test_a_foreign_agent_under_my_workspace_is_404(world: World, foreign: str) -> None:
    agent = world.agents[foreign]
    owner = browser(world, "owner")

    assert owner.get(agents_url(world.a1, f"{agent.pk}/")).status_code == 404
    assert owner.get(agents_url(world.a1, f"{agent.pk}/delete/")).status_code == 404
    responses = [
        owner.post(agents_url(world.a1, f"{agent.pk}/"), fields(name="Taken over")),
        owner.post(agents_url(world.a1, f"{agent.pk}/activation/"), {"active": "0"}),
        owner.post(agents_url(world.a1, f"{agent.pk}/delete/")),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    with as_workspace(agent.workspace_id):
        kept = Agent.objects.get(pk=agent.pk)
    assert kept.name == agent.name and kept.is_active


def test_viewers_forged_posts_are_refused(world: World) -> None:
    agent = world.agents["a1"]
    viewer = browser(world, "ws_viewer")

    assert viewer.get(agents_url(world.a1, "new/")).status_code == 403
    responses = [
        viewer.post(agents_url(world.a1, "new/"), fields()),
        viewer.post(agents_url(world.a1, f"{agent.pk}/"), fields(name="Renamed")),
        viewer.post(agents_url(world.a1, f"{agent.pk}/activation/"), {"active": "0"}),
        viewer.post(agents_url(world.a1, f"{agent.pk}/delete/")),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    kept = reload(world, agent)
    assert kept is not None and kept.name == agent.name and kept.is_active
    with as_user(world.users["owner"].pk):
        assert not Agent.objects.filter(
            workspace=world.a1, name="Billing helper"
        ).exists()


# --- Writing agents


@pytest.mark.parametrize("persona", WRITERS)
def test_writers_create_an_agent_and_land_on_its_test_panel(
    world: World, persona: str
) -> None:
    client = browser(world, persona)

    response = client.post(agents_url(world.a1, "new/"), fields())

    with as_user(world.users["owner"].pk):
        agent = Agent.objects.get(workspace=world.a1, name="Billing helper")
        assert AuditLog.objects.filter(
            action="agent.created", target_id=str(agent.pk)
        ).exists()
    assert response.status_code == 302
    assert response["Location"] == agents_url(world.a1, f"{agent.pk}/")
    assert agent.enabled_tools == ["get_document", "hybrid_search"]
    assert (
        agent.temperature == 0.2 and agent.is_active and agent.slug == "billing-helper"
    )
    page = html(client.get(response["Location"]))
    assert "created" in page and "data-chat-form" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": "3"}, "less than or equal to 2"),
        ({"model_provider": "telepathy"}, "not one of the available choices"),
        ({"tool_config": '{"teleport": {}}'}, "Unknown tools: teleport."),
        ({"tool_config": "{not json"}, "Not valid JSON"),
        ({"tool_config": "[1, 2]"}, "must be a JSON object"),
        ({"name": ""}, "This field is required."),
    ],
)
def test_bad_input_is_explained_and_nothing_is_stored(
    world: World, changes: dict[str, Any], message: str
) -> None:
    response = browser(world, "owner").post(
        agents_url(world.a1, "new/"), fields(**changes)
    )

    assert response.status_code == 200
    page = html(response)
    assert message in page
    with as_user(world.users["owner"].pk):
        assert Agent.objects.filter(workspace=world.a1).count() == 1


def test_the_plan_limit_on_agents_is_the_services(db: None) -> None:
    tenant = make_tenant("full", max_agents_per_workspace=1)
    add_agent(tenant.workspace, "only")
    client = Client()
    client.force_login(tenant.owner)

    response = client.post(agents_url(tenant.workspace, "new/"), fields())

    page = html(response)
    assert response.status_code == 200
    assert "plan allows 1 agents per workspace" in page
    with as_user(tenant.owner.pk):
        assert Agent.objects.filter(workspace=tenant.workspace).count() == 1


def test_editing_saves_through_the_service(world: World) -> None:
    agent = world.agents["a1"]
    changes = fields(
        name="Helper v2",
        temperature="0",
        max_tokens="800",
        enabled_tools=["text_search"],
        tool_config='{"text_search": {"limit": 8}}',
        is_active=None,  # unchecked: the form deactivates it
    )

    response = browser(world, "org_member").post(
        agents_url(world.a1, f"{agent.pk}/"), changes
    )

    assert response.status_code == 302
    saved = reload(world, agent)
    assert saved is not None
    assert (saved.name, saved.temperature, saved.max_tokens) == ("Helper v2", 0, 800)
    assert saved.enabled_tools == ["text_search"]
    assert saved.tool_config == {"text_search": {"limit": 8}}
    assert not saved.is_active
    with as_user(world.users["owner"].pk):
        assert AuditLog.objects.filter(
            action="agent.updated", target_id=str(agent.pk)
        ).exists()


def test_deactivating_takes_the_agent_out_of_chat(world: World) -> None:
    agent = world.agents["a1"]
    admin = browser(world, "ws_admin")

    response = admin.post(
        agents_url(world.a1, f"{agent.pk}/activation/"), {"active": "0"}
    )

    assert response.status_code == 302
    saved = reload(world, agent)
    assert saved is not None and not saved.is_active
    listing = html(admin.get(agents_url(world.a1)))
    assert "Inactive" in listing and "Activate" in listing
    chat = html(admin.get(f"/app/w/{world.a1.pk}/chat/"))
    assert "No active agent" in chat
    refused = admin.post(
        f"/app/w/{world.a1.pk}/chat/answer/", {"agent": str(agent.pk), "query": "Hi"}
    )
    assert refused.status_code == 200
    assert b'"code": "agent_inactive"' in refused.content

    admin.post(
        agents_url(world.a1, f"{agent.pk}/activation/"),
        {"active": "1", "next": "agent"},
    )
    saved = reload(world, agent)
    assert saved is not None and saved.is_active


def test_delete_asks_first_and_keeps_conversations(world: World) -> None:
    agent = world.agents["a1"]
    owner = world.users["owner"]
    with as_user(owner.pk):
        session = ChatSession.objects.create(
            workspace=world.a1, agent=agent, user=owner, title="Earlier chat"
        )
    client = browser(world, "owner")

    confirm = html(client.get(agents_url(world.a1, f"{agent.pk}/delete/")))
    assert "Delete agent" in confirm and "1 conversation stays" in confirm
    assert reload(world, agent) is not None

    response = client.post(agents_url(world.a1, f"{agent.pk}/delete/"))

    assert response.status_code == 302
    assert reload(world, agent) is None
    with as_user(owner.pk):
        kept = ChatSession.objects.get(pk=session.pk)
    assert kept.agent_id is None
    page = html(client.get(f"/app/w/{world.a1.pk}/chat/s/{session.pk}/"))
    assert "deleted agent" in page and "data-chat-form" not in page


def test_a_provider_without_a_key_is_flagged_until_the_organization_adds_one(
    world: World, settings: Any
) -> None:
    settings.OPENAI_API_KEY = ""
    client = browser(world, "owner")
    client.post(
        agents_url(world.a1, "new/"),
        fields(name="Hosted", model_provider="openai", model_name="gpt-4o-mini"),
    )

    assert "Model not configured" in html(client.get(agents_url(world.a1)))

    with as_user(world.users["owner"].pk):
        provider_credential_set(
            organization=world.org_a, provider="openai", api_key="sk-org-key-123456"
        )
    assert "Model not configured" not in html(client.get(agents_url(world.a1)))


def test_an_organization_server_no_longer_allowed_is_flagged_with_the_reason(
    world: World, settings: Any
) -> None:
    settings.OPENAI_COMPATIBLE_BASE_URL = ""
    client = browser(world, "owner")
    client.post(
        agents_url(world.a1, "new/"),
        fields(name="Local", model_provider="openai_compatible", model_name="m-1"),
    )
    with as_user(world.users["owner"].pk):
        provider_credential_set(
            organization=world.org_a,
            provider="openai_compatible",
            base_url="http://127.0.0.1:11434/v1",
        )
    assert "Model not configured" not in html(client.get(agents_url(world.a1)))

    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = []
    page = html(client.get(agents_url(world.a1)))

    assert "Model not configured" in page
    assert escape("openai_compatible server is refused") in page
    assert escape("private, loopback or reserved address") in page
