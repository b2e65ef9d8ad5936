"""A workspace's Members page: grants to organization members, invitations."""

from __future__ import annotations

import pytest

from tenancy import invitations, services
from tenancy.context import as_user
from tenancy.models import Invitation, WorkspaceMember
from tests.dashboard.conftest import PERSONAS, page_text, row_marked_you
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

# Organization owners and admins are admins of every workspace.
WORKSPACE_ADMINS = {"owner", "admin"}


def members_url(people, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/app/w/{people.a1.pk}/members/{suffix}"


def workspace_role(people, user) -> str | None:  # type: ignore[no-untyped-def]
    with as_user(people.users["owner"].pk):
        return (
            WorkspaceMember.objects.filter(workspace=people.a1, user=user)
            .values_list("role", flat=True)
            .first()
        )


@pytest.fixture
def newcomer(people):  # type: ignore[no-untyped-def]
    """In the organization, with no grant in A1 yet."""
    user = make_user("newcomer", email_verified=True)
    with as_user(people.users["owner"].pk):
        services.organization_member_add(
            organization=people.org_a, user=user, role="member"
        )
    return user


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_members_page_by_role(people, persona, newcomer):
    response = people.client(persona).get(members_url(people))

    if persona == "outsider":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    text = page_text(response)
    assert people.users["member"].email in text
    assert people.users["viewer"].email in text
    # Organization owners and admins appear as admins, managed on People.
    assert people.users["owner"].email in text
    manages = persona in WORKSPACE_ADMINS
    assert ("Add to workspace" in text) == manages
    assert ("Invite by email" in text) == manages
    assert (f"/members/{people.users['viewer'].pk}/remove/" in text) == manages
    # Only organization members without a grant can be added.
    assert (f'value="{newcomer.pk}"' in text) == manages
    assert f'value="{people.users["member"].pk}"' not in text


def test_a_workspace_admin_who_is_an_organization_member_manages_it(people, newcomer):
    with as_user(people.users["owner"].pk):
        services.workspace_member_add(workspace=people.a2, user=newcomer, role="admin")
    client = people.client("member")
    client.force_login(newcomer)

    text = page_text(client.get(f"/app/w/{people.a2.pk}/members/"))

    assert "Invite by email" in text


@pytest.mark.parametrize("persona", PERSONAS)
def test_granting_a_role_follows_the_role(people, persona, newcomer):
    response = people.client(persona).post(
        members_url(people), {"add-user": newcomer.pk, "add-role": "viewer"}
    )

    if persona in WORKSPACE_ADMINS:
        assert response.status_code == 302
        assert workspace_role(people, newcomer) == "viewer"
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert workspace_role(people, newcomer) is None


def test_someone_outside_the_organization_cannot_be_granted_a_role(people):
    response = people.client("owner").post(
        members_url(people),
        {"add-user": people.users["outsider"].pk, "add-role": "admin"},
    )

    assert response.status_code == 400
    assert "Select a valid choice" in page_text(response)
    assert workspace_role(people, people.users["outsider"]) is None


@pytest.mark.parametrize("persona", PERSONAS)
def test_changing_and_removing_follow_the_role(people, persona):
    viewer = people.users["viewer"]
    client = people.client(persona)

    changed = client.post(members_url(people, f"{viewer.pk}/role/"), {"role": "member"})
    role_after_change = workspace_role(people, viewer)
    removed = client.post(members_url(people, f"{viewer.pk}/remove/"))

    if persona in WORKSPACE_ADMINS:
        assert (changed.status_code, removed.status_code) == (302, 302)
        assert role_after_change == "member"
        assert workspace_role(people, viewer) is None
    else:
        expected = 404 if persona == "outsider" else 403
        assert (changed.status_code, removed.status_code) == (expected, expected)
        assert workspace_role(people, viewer) == "viewer"


@pytest.mark.parametrize("persona", PERSONAS)
def test_inviting_to_the_workspace_follows_the_role(
    people, persona, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = people.client(persona).post(
            members_url(people, "invite/"),
            {"invite-email": "guest@example.com", "invite-role": "viewer"},
        )

    with as_user(people.users["owner"].pk):
        sent = list(Invitation.objects.filter(email="guest@example.com"))
    if persona in WORKSPACE_ADMINS:
        assert response.status_code == 302
        [invitation] = sent
        assert (invitation.workspace_id, invitation.role) == (people.a1.pk, "viewer")
        [mail] = mailoutbox
        assert people.a1.name in mail.subject
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert sent == []
        assert mailoutbox == []


def test_a_workspace_invitation_role_must_be_a_workspace_role(people):
    response = people.client("owner").post(
        members_url(people, "invite/"),
        {"invite-email": "guest@example.com", "invite-role": "owner"},
    )

    assert response.status_code == 400
    assert "Select a valid choice" in page_text(response)


def test_revoking_a_workspace_invitation(people):
    owner = people.users["owner"]
    with as_user(owner.pk):
        here = invitations.invitation_create(
            organization=people.org_a,
            workspace=people.a1,
            email="here@example.com",
            role="member",
            invited_by=owner,
            site_url="http://testserver/",
        ).invitation
        elsewhere = invitations.invitation_create(
            organization=people.org_a,
            workspace=people.a2,
            email="there@example.com",
            role="member",
            invited_by=owner,
            site_url="http://testserver/",
        ).invitation
    client = people.client("owner")

    refused = client.post(f"/app/w/{people.a1.pk}/invitations/{elsewhere.pk}/revoke/")
    forged = people.client("member").post(
        f"/app/w/{people.a1.pk}/invitations/{here.pk}/revoke/"
    )
    done = client.post(f"/app/w/{people.a1.pk}/invitations/{here.pk}/revoke/")

    # An invitation to a sibling workspace is not found under this one.
    assert (refused.status_code, forged.status_code, done.status_code) == (
        404,
        403,
        302,
    )
    with as_user(owner.pk):
        here.refresh_from_db()
        elsewhere.refresh_from_db()
    assert here.revoked_at is not None
    assert elsewhere.revoked_at is None


def test_another_workspaces_member_is_not_found_here(people):
    owner_b = people.users["outsider"]
    client = people.client("owner")

    role = client.post(members_url(people, f"{owner_b.pk}/role/"), {"role": "viewer"})
    removed = client.post(members_url(people, f"{owner_b.pk}/remove/"))
    foreign = client.get(f"/app/w/{people.b1.pk}/members/")

    assert (role.status_code, removed.status_code, foreign.status_code) == (
        404,
        404,
        404,
    )


@pytest.mark.parametrize(("persona", "selects"), [("owner", True), ("viewer", False)])
def test_each_member_shows_once_with_you_and_a_role_control(people, persona, selects):
    me = people.users[persona]
    viewer = people.users["viewer"]

    html = people.client(persona).get(members_url(people)).content.decode()

    assert me.email in row_marked_you(html)
    assert (f'id="role-{viewer.pk}"' in html) == selects
    assert (f"/members/{viewer.pk}/role/" in html) == selects
