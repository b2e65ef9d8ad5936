"""Organization lifecycle, membership rules and plan limits."""

from __future__ import annotations

import pytest

from tenancy.context import as_user
from tenancy.models import Organization, Workspace
from tests.api.conftest import user_api
from tests.support.tenants import make_tenant, make_user

pytestmark = pytest.mark.django_db


def test_the_creator_becomes_owner():
    api = user_api(make_user("founder"))
    created = api.post("/v1/organizations", {"name": "Acme Corp"})
    body = created.json()
    assert created.status_code == 201
    assert (body["slug"], body["role"], body["plan_tier"]) == (
        "acme-corp",
        "owner",
        "free",
    )
    members = api.get(f"/v1/organizations/{body['id']}/members").json()["results"]
    assert [m["role"] for m in members] == ["owner"]


def test_the_last_owner_cannot_leave_or_be_demoted(world):
    owner = world.api("owner")
    path = f"/v1/organizations/{world.org_a.pk}/members/{world.users['owner'].pk}"
    demote = owner.patch(path, {"role": "admin"})
    leave = owner.delete(path)
    assert demote.status_code == 409 and leave.status_code == 409
    assert demote.json()["error"]["code"] == "last_owner"

    second = world.users["org_admin"]
    promote = owner.patch(
        f"/v1/organizations/{world.org_a.pk}/members/{second.pk}", {"role": "owner"}
    )
    assert promote.status_code == 200
    assert owner.patch(path, {"role": "admin"}).status_code == 200


def test_only_owners_grant_or_remove_the_owner_role(world):
    admin = world.api("org_admin")
    grant = admin.patch(
        f"/v1/organizations/{world.org_a.pk}/members/{world.users['org_only'].pk}",
        {"role": "owner"},
    )
    remove = admin.delete(
        f"/v1/organizations/{world.org_a.pk}/members/{world.users['owner'].pk}"
    )
    assert grant.status_code == 403 and remove.status_code == 403


def test_removing_a_member_removes_their_workspace_grants(world):
    owner = world.api("owner")
    viewer = world.users["ws_viewer"]
    response = owner.delete(f"/v1/organizations/{world.org_a.pk}/members/{viewer.pk}")
    assert response.status_code == 204
    assert (
        world.api("ws_viewer").get(f"/v1/workspaces/{world.a1.pk}").status_code == 404
    )


def test_deleting_an_organization_hides_it_and_stops_its_keys(world):
    owner = world.api("owner")
    response = owner.delete(f"/v1/organizations/{world.org_a.pk}")
    assert response.status_code == 202
    assert response.json()["subject_type"] == "organization"
    assert owner.get(f"/v1/organizations/{world.org_a.pk}").status_code == 404
    assert owner.get("/v1/organizations").json()["results"] == []
    response = world.api("key_all").get(f"/v1/workspaces/{world.a1.pk}")
    assert response.status_code == 401
    with as_user(world.users["owner"].pk):
        # Soft-deleted at once; the purge that follows (a task, not run
        # here) removes the rows (tests/ops/test_deletion.py).
        assert Organization.objects.filter(pk=world.org_a.pk).exists()


def test_a_plan_limit_refuses_clearly_and_creates_nothing():
    tenant = make_tenant("free", plan_tier="free", max_workspaces=1)
    api = user_api(tenant.owner)
    response = api.post(
        f"/v1/organizations/{tenant.organization.pk}/workspaces", {"name": "Second"}
    )
    error = response.json()["error"]
    assert response.status_code == 403
    assert error["code"] == "plan_limit_exceeded"
    assert error["details"] == {
        "limit": "workspaces",
        "maximum": 1,
        "current": 1,
        "plan": "free",
    }
    with as_user(tenant.owner.pk):
        assert Workspace.objects.filter(organization=tenant.organization).count() == 1


def test_the_agent_limit_holds(world):
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(
            max_agents_per_workspace=2
        )
    api = world.api("owner")
    first = api.post(
        f"/v1/workspaces/{world.a1.pk}/agents", {"name": "Two", "system_prompt": "p"}
    )
    second = api.post(
        f"/v1/workspaces/{world.a1.pk}/agents", {"name": "Three", "system_prompt": "p"}
    )
    assert first.status_code == 201
    assert second.status_code == 403
    assert second.json()["error"]["details"]["limit"] == "agents_per_workspace"


def test_duplicate_slugs_conflict(world):
    api = world.api("owner")
    response = api.post(
        f"/v1/workspaces/{world.a1.pk}/agents",
        {"name": "Helper", "slug": "helper", "system_prompt": "p"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"] == {"field": "slug"}


def test_monthly_requests_are_enforced(world):
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(max_monthly_requests=3)
    api = world.api("key_read")
    statuses = [
        api.get(f"/v1/workspaces/{world.a1.pk}/agents").status_code for _ in range(5)
    ]
    refused = api.get(f"/v1/workspaces/{world.a1.pk}/agents")
    assert statuses == [200, 200, 200, 429, 429]
    assert refused.json()["error"]["code"] == "monthly_request_limit_exceeded"
    assert int(refused["Retry-After"]) > 0
