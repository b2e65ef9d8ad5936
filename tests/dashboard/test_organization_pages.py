"""The home redirect, organization creation and the organization page (its
workspaces and workspace creation), for every role."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tenancy.context import as_user
from tenancy.models import Organization, OrganizationMember, Workspace
from tests.dashboard.conftest import ORGANIZATION_MANAGERS, PERSONAS, page_text
from tests.support.tenants import make_tenant, make_user

pytestmark = pytest.mark.django_db


def workspace_count(organization: Organization, user) -> int:  # type: ignore[no-untyped-def]
    with as_user(user.pk):
        return Workspace.objects.filter(
            organization=organization, deleted_at__isnull=True
        ).count()


def test_anonymous_visitors_are_sent_to_log_in(people):
    for path in [
        "/app/",
        f"/app/organizations/{people.org_a.pk}/",
        "/app/organizations/new/",
    ]:
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_home_sends_newcomers_to_create_an_organization(db):
    client = Client()
    client.force_login(make_user("new", email_verified=True))

    response = client.get("/app/")

    assert response["Location"] == "/app/organizations/new/"


def test_home_sends_members_to_a_workspace_they_can_enter(people):
    response = people.client("member").get("/app/")

    assert response["Location"] == f"/app/w/{people.a1.pk}/chat/"


def test_creating_an_organization_makes_its_creator_the_owner(db):
    user = make_user("founder", email_verified=True)
    client = Client()
    client.force_login(user)
    page_text(client.get("/app/organizations/new/"))

    response = client.post("/app/organizations/new/", {"name": "Northwind"})

    assert response.status_code == 302
    organization_id = re.search(
        r"/app/organizations/([0-9a-f-]{36})/", response["Location"]
    )
    assert organization_id is not None
    with as_user(user.pk):
        member = OrganizationMember.objects.get(
            organization_id=organization_id.group(1)
        )
    assert (member.user_id, member.role) == (user.pk, "owner")


def test_an_organization_needs_a_name(db):
    client = Client()
    client.force_login(make_user("founder", email_verified=True))

    response = client.post("/app/organizations/new/", {"name": "   "})

    assert response.status_code == 200
    assert "This field is required." in page_text(response)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_organization_page_shows_creation_only_to_managers(people, persona):
    response = people.client(persona).get(f"/app/organizations/{people.org_a.pk}/")

    if persona == "outsider":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    text = page_text(response)
    assert people.org_a.name in text
    assert ("Create workspace" in text) == (persona in ORGANIZATION_MANAGERS)


@pytest.mark.parametrize("persona", PERSONAS)
def test_creating_a_workspace_follows_the_role(people, persona):
    before = workspace_count(people.org_a, people.users["owner"])

    response = people.client(persona).post(
        f"/app/organizations/{people.org_a.pk}/", {"name": f"By {persona}"}
    )

    after = workspace_count(people.org_a, people.users["owner"])
    if persona in ORGANIZATION_MANAGERS:
        assert response.status_code == 302
        assert after == before + 1
    else:
        # A forged post from a member or viewer is refused; an outsider
        # cannot even learn that the organization exists.
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert after == before


def test_the_plan_limit_on_workspaces_is_a_clear_error(db):
    tenant = make_tenant("limited", plan_tier="free", max_workspaces=1)
    client = Client()
    client.force_login(tenant.owner)

    response = client.post(
        f"/app/organizations/{tenant.organization.pk}/", {"name": "One too many"}
    )

    assert response.status_code == 200
    text = page_text(response)
    assert "The free plan allows 1 workspaces" in text
    assert "upgrade the plan" in text
    assert workspace_count(tenant.organization, tenant.owner) == 1


def test_forms_need_their_csrf_token(people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people.users["owner"])
    url = f"/app/organizations/{people.org_a.pk}/"

    refused = client.post(url, {"name": "No token"})
    page = page_text(client.get(url))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    accepted = client.post(
        url, {"name": "With token", "csrfmiddlewaretoken": token.group(1)}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_the_switcher_lists_only_the_users_own_organizations(people):
    text = page_text(
        people.client("member").get(f"/app/organizations/{people.org_a.pk}/")
    )

    assert people.org_a.name in text
    assert people.org_b.name not in text
    # The member sees A1 (granted) but not A2 (no grant).
    assert f"/app/w/{people.a1.pk}/" in text
    assert f"/app/w/{people.a2.pk}/" not in text
