"""Accepting an invitation: signed in, after signing up, after logging in, and
every way a link can be dead or meant for someone else."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from accounts.models import User
from tenancy import invitations, services
from tenancy.context import as_anonymous, as_user
from tenancy.invitations import token_digest
from tenancy.models import (
    AuditLog,
    Invitation,
    OrganizationMember,
    WorkspaceMember,
)
from tests.dashboard.conftest import page_text
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def invite(people, email: str, role: str = "member", workspace=None):  # type: ignore[no-untyped-def]
    with as_user(people.users["owner"].pk):
        return invitations.invitation_create(
            organization=people.org_a,
            workspace=workspace,
            email=email,
            role=role,
            invited_by=people.users["owner"],
            site_url="http://testserver/",
        )


def link(created) -> str:  # type: ignore[no-untyped-def]
    return f"/app/invitations/{created.token}/"


def organization_role(people, user) -> str | None:  # type: ignore[no-untyped-def]
    with as_user(people.users["owner"].pk):
        return (
            OrganizationMember.objects.filter(organization=people.org_a, user=user)
            .values_list("role", flat=True)
            .first()
        )


def test_only_a_digest_of_the_token_is_stored(people):
    created = invite(people, "new@example.com")

    with as_user(people.users["owner"].pk):
        stored = Invitation.objects.get(pk=created.invitation.pk)
    assert stored.token_hash == token_digest(created.token)
    assert created.token not in stored.token_hash
    assert len(created.token) >= 40


def test_a_signed_in_invitee_accepts(people):
    user = make_user("invitee", email_verified=True)
    created = invite(people, user.email.upper(), role="admin")
    client = Client()
    client.force_login(user)

    page = page_text(client.get(link(created)))
    assert people.org_a.name in page
    assert "Accept invitation" in page
    accepted = client.post(link(created))

    assert accepted["Location"] == f"/app/organizations/{people.org_a.pk}/"
    assert organization_role(people, user) == "admin"
    with as_user(user.pk):
        assert AuditLog.objects.filter(
            action="invitation.accepted", actor_user_id=user.pk
        ).exists()
    again = client.post(link(created))
    assert again.status_code == 409
    assert "already been accepted" in page_text(again)


def test_a_workspace_invitation_grants_the_workspace_role(people):
    user = make_user("guest", email_verified=True)
    created = invite(people, user.email, role="viewer", workspace=people.a2)
    client = Client()
    client.force_login(user)

    accepted = client.post(link(created))

    assert accepted["Location"] == f"/app/w/{people.a2.pk}/"
    assert organization_role(people, user) == "member"
    with as_user(user.pk):
        grant = WorkspaceMember.objects.get(workspace=people.a2, user=user)
        assert grant.role == "viewer"
        assert not WorkspaceMember.objects.filter(workspace=people.a1).exists()
    assert client.get(f"/app/w/{people.a2.pk}/members/").status_code == 200


def test_a_newcomer_signs_up_from_the_link_and_lands_back_on_it(people, mailoutbox):
    created = invite(people, "fresh@example.com")
    client = Client()

    page = page_text(client.get(link(created)))
    signup = re.search(r'href="(/accounts/signup/\?[^"]+)"', page)
    assert signup is not None
    form = page_text(client.get(signup.group(1).replace("&amp;", "&")))
    assert 'value="fresh@example.com"' in form
    signed_up = client.post(
        signup.group(1).replace("&amp;", "&"),
        {"email": "fresh@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    # The link proved the address: no verification code is needed.
    assert signed_up.status_code == 302
    assert signed_up["Location"] == link(created)
    assert mailoutbox == []
    user = User.objects.get(email="fresh@example.com")
    accepted = client.post(signed_up["Location"])
    assert accepted.status_code == 302
    assert organization_role(people, user) == "member"


def test_a_newcomer_with_another_address_must_still_verify_it(people, mailoutbox):
    created = invite(people, "invited@example.com")
    client = Client()
    client.get(link(created))

    signed_up = client.post(
        f"/accounts/signup/?next={link(created)}",
        {"email": "other@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    # allauth records the invited address as proven and makes it primary; the
    # typed one waits for its code.
    user = User.objects.get(email__in=["other@example.com", "invited@example.com"])
    assert signed_up.status_code == 302
    assert user.emailaddress_set.get(email="invited@example.com").verified
    assert not user.emailaddress_set.get(email="other@example.com").verified


def test_an_existing_user_logs_in_from_the_link_and_comes_back(people):
    user = make_user("known", email_verified=True)
    created = invite(people, user.email)
    client = Client()

    page = page_text(client.get(link(created)))
    login = re.search(r'href="(/accounts/login/\?[^"]+)"', page)
    assert login is not None
    logged_in = client.post(
        login.group(1).replace("&amp;", "&"),
        {"login": user.email, "password": PASSWORD},
    )

    assert logged_in["Location"] == link(created)
    assert client.post(link(created)).status_code == 302
    assert organization_role(people, user) == "member"


def test_home_brings_back_an_invitation_opened_before_logging_in(people):
    user = make_user("known", email_verified=True)
    created = invite(people, user.email)
    client = Client()
    client.get(link(created))

    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    home = client.get("/app/")

    assert home["Location"] == link(created)


def test_the_wrong_account_is_told_which_address_the_invitation_is_for(people):
    created = invite(people, "someone@example.com")
    client = people.client("outsider")

    page = page_text(client.get(link(created)))
    refused = client.post(link(created))

    assert "This invitation was sent to <strong>someone@example.com</strong>" in page
    assert "Accept invitation" not in page
    assert refused.status_code == 403
    assert organization_role(people, people.users["outsider"]) is None


def test_an_unverified_address_is_not_enough(people):
    user = make_user("unverified", email_verified=False)
    created = invite(people, user.email)
    client = Client()
    client.force_login(user)

    refused = client.post(link(created))

    assert refused.status_code == 403
    assert "verify" in page_text(refused)
    assert organization_role(people, user) is None


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"expires_at": timezone.now() - timedelta(minutes=1)}, 410, "has expired"),
        ({"revoked_at": timezone.now()}, 410, "was withdrawn"),
    ],
)
def test_dead_links_say_why(people, change, status, message):
    user = make_user("late", email_verified=True)
    created = invite(people, user.email)
    with as_user(people.users["owner"].pk):
        Invitation.objects.filter(pk=created.invitation.pk).update(**change)
    client = Client()
    client.force_login(user)

    shown = client.get(link(created))
    refused = client.post(link(created))

    assert (shown.status_code, refused.status_code) == (status, status)
    assert message in page_text(shown)
    assert organization_role(people, user) is None


def test_an_unknown_token_is_not_found(people):
    response = Client().get("/app/invitations/not-a-real-token/")

    assert response.status_code == 404
    assert "not valid" in page_text(response)


def test_an_invitation_to_a_deleted_workspace_is_not_found(people):
    user = make_user("late", email_verified=True)
    created = invite(people, user.email, workspace=people.a2)
    with as_user(people.users["owner"].pk):
        services.workspace_delete(workspace=people.a2)
    client = Client()
    client.force_login(user)

    assert client.post(link(created)).status_code == 404


def test_a_new_invitation_replaces_the_pending_one(people):
    first = invite(people, "twice@example.com")
    second = invite(people, "twice@example.com", role="viewer")

    assert Client().get(link(first)).status_code == 410
    assert Client().get(link(second)).status_code == 200


def test_the_accept_door_acts_only_for_the_transactions_user(people):
    created = invite(people, "door@example.com")

    with as_anonymous(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT atrium_invitation_accept(%s)", [token_digest(created.token)]
        )
        (outcome,) = cursor.fetchone()

    assert outcome == "not_signed_in"


def test_invitations_are_invisible_outside_their_organization(people):
    invite(people, "private@example.com")

    with as_user(people.users["outsider"].pk):
        assert not Invitation.objects.filter(organization=people.org_a).exists()
        # Nor can an outsider plant one in organization A.
        with pytest.raises(DatabaseError), transaction.atomic():
            Invitation.objects.create(
                organization=people.org_a,
                email="planted@example.com",
                role="owner",
                token_hash="0" * 64,
                expires_at=timezone.now() + timedelta(days=1),
            )
