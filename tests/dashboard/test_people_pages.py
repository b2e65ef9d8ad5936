"""The organization's People page: who sees it, who changes it, and how."""

from __future__ import annotations

import pytest

from tenancy import invitations
from tenancy.context import as_user
from tenancy.models import AuditLog, Invitation, OrganizationMember, WorkspaceMember
from tests.dashboard.conftest import (
    ORGANIZATION_MANAGERS,
    PERSONAS,
    page_text,
    row_marked_you,
)

pytestmark = pytest.mark.django_db


def people_url(people, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/app/organizations/{people.org_a.pk}/people/{suffix}"


def role_of(people, persona: str) -> str | None:  # type: ignore[no-untyped-def]
    with as_user(people.users["owner"].pk):
        return (
            OrganizationMember.objects.filter(
                organization=people.org_a, user=people.users[persona]
            )
            .values_list("role", flat=True)
            .first()
        )


def invite(people, email: str = "new@example.com"):  # type: ignore[no-untyped-def]
    with as_user(people.users["owner"].pk):
        return invitations.invitation_create(
            organization=people.org_a,
            email=email,
            role="member",
            invited_by=people.users["owner"],
            site_url="http://testserver/",
        ).invitation


@pytest.mark.parametrize("persona", PERSONAS)
def test_everyone_in_the_organization_sees_its_people(people, persona):
    pending = invite(people)

    response = people.client(persona).get(people_url(people))

    if persona == "outsider":
        assert response.status_code == 404
        return
    text = page_text(response)
    for member in ["owner", "admin", "member", "viewer"]:
        assert people.users[member].email in text
    assert people.users["outsider"].email not in text
    assert pending.email in text
    manages = persona in ORGANIZATION_MANAGERS
    assert ("Send invitation" in text) == manages
    assert ("Revoke" in text) == manages
    assert (f"/people/{people.users['viewer'].pk}/remove/" in text) == manages


@pytest.mark.parametrize("persona", PERSONAS)
def test_inviting_follows_the_role(
    people, persona, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = people.client(persona).post(
            people_url(people), {"email": "newcomer@example.com", "role": "member"}
        )

    with as_user(people.users["owner"].pk):
        sent = Invitation.objects.filter(email="newcomer@example.com").count()
    if persona in ORGANIZATION_MANAGERS:
        assert response.status_code == 302
        assert sent == 1
        [mail] = mailoutbox
        assert mail.to == ["newcomer@example.com"]
        assert people.org_a.name in mail.subject
        assert "http://testserver/app/invitations/" in mail.body
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert sent == 0
        assert mailoutbox == []


def test_only_owners_invite_owners(people):
    response = people.client("admin").post(
        people_url(people), {"email": "boss@example.com", "role": "owner"}
    )

    assert response.status_code == 400
    assert "Only owners can invite owners." in page_text(response)
    owner = people.client("owner").post(
        people_url(people), {"email": "boss@example.com", "role": "owner"}
    )
    assert owner.status_code == 302


def test_inviting_a_member_again_is_a_clear_error(people):
    response = people.client("owner").post(
        people_url(people), {"email": people.users["viewer"].email, "role": "admin"}
    )

    assert response.status_code == 400
    assert "already a member of this organization" in page_text(response)


def test_a_bad_email_keeps_the_form_and_says_why(people):
    response = people.client("owner").post(
        people_url(people), {"email": "not-an-address", "role": "member"}
    )

    assert response.status_code == 400
    text = page_text(response)
    assert "Enter a valid email address." in text
    assert 'value="not-an-address"' in text


@pytest.mark.parametrize("persona", PERSONAS)
def test_changing_a_role_follows_the_role(people, persona):
    viewer = people.users["viewer"]

    response = people.client(persona).post(
        people_url(people, f"{viewer.pk}/role/"), {"role": "member"}
    )

    if persona in ORGANIZATION_MANAGERS:
        assert response.status_code == 302
        assert role_of(people, "viewer") == "member"
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert role_of(people, "viewer") == "viewer"


def test_admins_cannot_touch_the_owner_role(people):
    client = people.client("admin")

    promoted = client.post(
        people_url(people, f"{people.users['viewer'].pk}/role/"),
        {"role": "owner"},
        follow=True,
    )
    demoted = client.post(
        people_url(people, f"{people.users['owner'].pk}/role/"),
        {"role": "viewer"},
        follow=True,
    )

    assert "Only owners can grant or take away the owner role." in page_text(promoted)
    assert "Only owners" in page_text(demoted)
    assert role_of(people, "viewer") == "viewer"
    assert role_of(people, "owner") == "owner"


def test_the_last_owner_stays_an_owner(people):
    owner = people.users["owner"]

    response = people.client("owner").post(
        people_url(people, f"{owner.pk}/role/"), {"role": "admin"}, follow=True
    )

    assert "must keep at least one owner" in page_text(response)
    assert role_of(people, "owner") == "owner"


@pytest.mark.parametrize("persona", PERSONAS)
def test_removing_someone_follows_the_role(people, persona):
    member = people.users["member"]

    response = people.client(persona).post(people_url(people, f"{member.pk}/remove/"))

    if persona in ORGANIZATION_MANAGERS:
        assert response.status_code == 302
        assert role_of(people, "member") is None
        with as_user(people.users["owner"].pk):
            # Removed from the organization's workspaces too.
            assert not WorkspaceMember.objects.filter(user=member).exists()
            assert AuditLog.objects.filter(
                action="organization.member_removed", organization_id=people.org_a.pk
            ).exists()
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert role_of(people, "member") == "member"


def test_someone_of_another_organization_is_not_found_here(people):
    outsider = people.users["outsider"]
    client = people.client("owner")

    role = client.post(people_url(people, f"{outsider.pk}/role/"), {"role": "viewer"})
    removed = client.post(people_url(people, f"{outsider.pk}/remove/"))
    foreign_org = client.get(f"/app/organizations/{people.org_b.pk}/people/")

    assert (role.status_code, removed.status_code, foreign_org.status_code) == (
        404,
        404,
        404,
    )
    with as_user(outsider.pk):
        assert OrganizationMember.objects.filter(
            organization=people.org_b, user=outsider, role="owner"
        ).exists()


@pytest.mark.parametrize("persona", PERSONAS)
def test_revoking_an_invitation_follows_the_role(people, persona):
    pending = invite(people)

    response = people.client(persona).post(
        people_url(people).replace("people/", f"invitations/{pending.pk}/revoke/")
    )

    with as_user(people.users["owner"].pk):
        pending.refresh_from_db()
    if persona in ORGANIZATION_MANAGERS:
        assert response.status_code == 302
        assert pending.revoked_at is not None
    else:
        assert response.status_code == (404 if persona == "outsider" else 403)
        assert pending.revoked_at is None


def test_another_organizations_invitation_is_not_found(people):
    with as_user(people.users["outsider"].pk):
        foreign = invitations.invitation_create(
            organization=people.org_b,
            email="theirs@example.com",
            role="member",
            invited_by=people.users["outsider"],
            site_url="http://testserver/",
        ).invitation

    response = people.client("owner").post(
        f"/app/organizations/{people.org_a.pk}/invitations/{foreign.pk}/revoke/"
    )

    assert response.status_code == 404
    with as_user(people.users["outsider"].pk):
        foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_a_get_on_an_action_url_changes_nothing(people):
    viewer = people.users["viewer"]

    response = people.client("owner").get(people_url(people, f"{viewer.pk}/remove/"))

    assert response.status_code == 405
    assert role_of(people, "viewer") == "viewer"


@pytest.mark.parametrize(("persona", "selects"), [("admin", True), ("member", False)])
def test_each_person_shows_once_with_you_and_a_role_control(people, persona, selects):
    me = people.users[persona]
    viewer = people.users["viewer"]

    html = people.client(persona).get(people_url(people)).content.decode()

    assert me.email in row_marked_you(html)
    assert (f'id="role-{viewer.pk}"' in html) == selects
    assert (f"/people/{viewer.pk}/role/" in html) == selects
