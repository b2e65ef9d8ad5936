"""Invitations over the API: who may list, create, revoke and accept them."""

from __future__ import annotations

import pytest

from tenancy import invitations
from tenancy.context import as_user
from tenancy.models import Invitation, OrganizationMember
from tests.api.conftest import user_api
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

ORG_MEMBERS = {"owner", "org_admin", "org_member", "ws_admin", "ws_viewer", "org_only"}
ORG_MANAGERS = {"owner", "org_admin"}
A_KEYS = {"key_all", "key_read", "key_search"}
PERSONAS = sorted(ORG_MEMBERS | A_KEYS | {"outsider", "key_b", "anonymous"})


def pending(world):  # type: ignore[no-untyped-def]
    with as_user(world.users["owner"].pk):
        return invitations.invitation_create(
            organization=world.org_a,
            email="pending@example.com",
            role="member",
            invited_by=world.users["owner"],
            site_url="http://testserver/",
        )


def expected(persona: str, allowed: set[str]) -> int | None:
    if persona == "anonymous":
        return 401
    if persona in allowed:
        return None
    if persona in {"outsider", "key_b"}:
        return 404
    return 403


@pytest.mark.parametrize("persona", PERSONAS)
def test_listing(world, persona):
    created = pending(world)

    response = world.api(persona).get(f"/v1/organizations/{world.org_a.pk}/invitations")

    status = expected(persona, ORG_MEMBERS)
    if status is None:
        assert response.status_code == 200
        [item] = response.json()["results"]
        assert item["id"] == str(created.invitation.pk)
        assert item["status"] == "pending"
        assert "token" not in item and "token_hash" not in item
    else:
        assert response.status_code == status
        if status == 403:
            assert response.json()["error"]["code"] == "api_key_not_allowed"


@pytest.mark.parametrize("persona", PERSONAS)
def test_creating(world, persona, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = world.api(persona).post(
            f"/v1/organizations/{world.org_a.pk}/invitations",
            {"email": "api-invitee@example.com", "role": "viewer"},
        )

    status = expected(persona, ORG_MANAGERS)
    if status is None:
        assert response.status_code == 201
        assert response.json()["email"] == "api-invitee@example.com"
        [mail] = mailoutbox
        assert "/app/invitations/" in mail.body
    else:
        assert response.status_code == status
        assert mailoutbox == []


def test_creating_for_a_workspace_checks_it_belongs_to_the_organization(world):
    owner = world.api("owner")
    url = f"/v1/organizations/{world.org_a.pk}/invitations"

    own = owner.post(
        url,
        {"email": "g@example.com", "role": "viewer", "workspace_id": str(world.a2.pk)},
    )
    foreign = owner.post(
        url,
        {"email": "g@example.com", "role": "viewer", "workspace_id": str(world.b1.pk)},
    )
    wrong_role = owner.post(
        url,
        {"email": "g@example.com", "role": "owner", "workspace_id": str(world.a1.pk)},
    )

    assert own.status_code == 201
    assert own.json()["workspace_id"] == str(world.a2.pk)
    assert foreign.status_code == 404
    assert wrong_role.status_code == 400
    assert wrong_role.json()["error"]["details"]["field"] == "role"


def test_only_owners_invite_owners(world):
    url = f"/v1/organizations/{world.org_a.pk}/invitations"
    body = {"email": "boss@example.com", "role": "owner"}

    admin = world.api("org_admin").post(url, body)
    owner = world.api("owner").post(url, body)

    assert admin.status_code == 403
    assert admin.json()["error"]["code"] == "insufficient_role"
    assert owner.status_code == 201


def test_inviting_a_member_is_a_conflict(world):
    response = world.api("owner").post(
        f"/v1/organizations/{world.org_a.pk}/invitations",
        {"email": world.users["ws_viewer"].email, "role": "member"},
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_a_member"


@pytest.mark.parametrize("persona", PERSONAS)
def test_revoking(world, persona):
    created = pending(world)

    response = world.api(persona).delete(
        f"/v1/organizations/{world.org_a.pk}/invitations/{created.invitation.pk}"
    )

    status = expected(persona, ORG_MANAGERS)
    with as_user(world.users["owner"].pk):
        revoked = Invitation.objects.get(pk=created.invitation.pk).revoked_at
    if status is None:
        assert response.status_code == 204
        assert revoked is not None
    else:
        assert response.status_code == status
        assert revoked is None


def test_a_foreign_invitation_is_not_found_under_your_organization(world):
    with as_user(world.users["outsider"].pk):
        foreign = invitations.invitation_create(
            organization=world.org_b,
            email="theirs@example.com",
            role="member",
            invited_by=world.users["outsider"],
            site_url="http://testserver/",
        )

    response = world.api("owner").delete(
        f"/v1/organizations/{world.org_a.pk}/invitations/{foreign.invitation.pk}"
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    with as_user(world.users["outsider"].pk):
        assert Invitation.objects.get(pk=foreign.invitation.pk).revoked_at is None


def test_accepting_through_the_api(world):
    invitee = make_user("invitee", email_verified=True)
    with as_user(world.users["owner"].pk):
        created = invitations.invitation_create(
            organization=world.org_a,
            workspace=world.a2,
            email=invitee.email,
            role="member",
            invited_by=world.users["owner"],
            site_url="http://testserver/",
        )
    api = user_api(invitee)

    key = world.api("key_all").post("/v1/invitations/accept", {"token": created.token})
    wrong = world.api("outsider").post(
        "/v1/invitations/accept", {"token": created.token}
    )
    accepted = api.post("/v1/invitations/accept", {"token": created.token})
    again = api.post("/v1/invitations/accept", {"token": created.token})
    unknown = api.post("/v1/invitations/accept", {"token": "nope"})

    assert key.status_code == 403
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "invitation_wrong_email"
    assert accepted.status_code == 200
    assert accepted.json() == {
        "organization_id": str(world.org_a.pk),
        "workspace_id": str(world.a2.pk),
        "role": "member",
    }
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invitation_already_accepted"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "invitation_not_found"
    assert api.get(f"/v1/workspaces/{world.a2.pk}").status_code == 200
    with as_user(invitee.pk):
        assert OrganizationMember.objects.filter(
            organization=world.org_a, user=invitee, role="member"
        ).exists()
