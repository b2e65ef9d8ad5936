"""Foreign ids answer 404 on every endpoint and method, even inside your own
scope: another workspace's agent, key or member named under your workspace."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def foreign_paths(world):  # type: ignore[no-untyped-def]
    a1, org = world.a1.pk, world.org_a.pk
    foreign_agent = world.agents["b1"].pk
    sibling_agent = world.agents["a2"].pk
    foreign_key = world.keys["key_b"].api_key.pk
    outsider = world.users["outsider"].pk
    return [
        ("GET", f"/v1/workspaces/{a1}/agents/{foreign_agent}", None),
        ("PATCH", f"/v1/workspaces/{a1}/agents/{foreign_agent}", {"name": "x"}),
        ("DELETE", f"/v1/workspaces/{a1}/agents/{foreign_agent}", None),
        ("GET", f"/v1/workspaces/{a1}/agents/{sibling_agent}", None),
        ("DELETE", f"/v1/workspaces/{a1}/agents/{sibling_agent}", None),
        ("GET", f"/v1/workspaces/{a1}/api-keys/{foreign_key}", None),
        ("DELETE", f"/v1/workspaces/{a1}/api-keys/{foreign_key}", None),
        ("PATCH", f"/v1/workspaces/{a1}/members/{outsider}", {"role": "viewer"}),
        ("DELETE", f"/v1/workspaces/{a1}/members/{outsider}", None),
        ("PATCH", f"/v1/organizations/{org}/members/{outsider}", {"role": "admin"}),
        ("DELETE", f"/v1/organizations/{org}/members/{outsider}", None),
        (
            "POST",
            f"/v1/workspaces/{a1}/chat",
            {"agent_id": str(foreign_agent), "query": "x"},
        ),
        (
            "POST",
            f"/v1/workspaces/{a1}/chat",
            {"agent_id": str(sibling_agent), "query": "x"},
        ),
    ]


def test_foreign_ids_under_your_own_scope_are_not_found(world):
    owner = world.api("owner")
    for method, path, body in foreign_paths(world):
        response = owner.call(method, path, body)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_found"


def test_nothing_foreign_was_touched(world):
    owner = world.api("owner")
    for method, path, body in foreign_paths(world):
        owner.call(method, path, body)
    outsider = world.api("outsider")
    agent = outsider.get(f"/v1/workspaces/{world.b1.pk}/agents/{world.agents['b1'].pk}")
    key = outsider.get(
        f"/v1/workspaces/{world.b1.pk}/api-keys/{world.keys['key_b'].api_key.pk}"
    )
    assert agent.status_code == 200 and agent.json()["name"] == "Foreign"
    assert key.json()["is_active"] is True


def test_adding_an_outsider_to_a_workspace_needs_organization_membership(world):
    response = world.api("owner").post(
        f"/v1/workspaces/{world.a1.pk}/members",
        {"user_id": str(world.users["outsider"].pk), "role": "viewer"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_an_organization_member"


def test_lists_never_include_foreign_rows(world):
    owner = world.api("owner")
    organizations = owner.get("/v1/organizations").json()["results"]
    workspaces = owner.get(f"/v1/organizations/{world.org_a.pk}/workspaces").json()
    assert [o["id"] for o in organizations] == [str(world.org_a.pk)]
    assert {w["id"] for w in workspaces["results"]} == {
        str(world.a1.pk),
        str(world.a2.pk),
    }
