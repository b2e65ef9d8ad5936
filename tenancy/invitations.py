"""Invitations: writes and reads, from the email that is sent to its acceptance.

An organization admin invites someone by email to the organization (with an
organization role) or to one workspace (with a workspace role; they join the
organization as a member). The link carries a random token; only its SHA-256
digest is stored. The invitee is nobody in the organization until they
accept, so looking an invitation up and accepting it go through the two
database doors of migration 0006 (docs/tenancy.md); everything else runs
under row-level security like any write of the organization.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import user_verified_emails
from tenancy.errors import (
    AlreadyMember,
    AtriumError,
    InvitationAlreadyAccepted,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    InvitationWrongEmail,
)
from tenancy.models import (
    Invitation,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)
from tenancy.services import audit_record

logger = logging.getLogger(__name__)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedInvitation:
    """A new invitation and its link, which exists only in this object."""

    invitation: Invitation
    token: str
    url: str


def invitation_path(token: str) -> str:
    return reverse("app:invitation", args=[token])


def _pending(queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
    return queryset.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def _check_role(role: str, workspace: Workspace | None) -> None:
    allowed = WorkspaceRole.values if workspace else OrganizationRole.values
    if role not in allowed:
        raise AtriumError(
            f"Choose one of: {', '.join(allowed)}.", field="role", role=role
        )


def _already_member(
    organization: Organization, workspace: Workspace | None, email: str
) -> bool:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return False
    if workspace is not None:
        return WorkspaceMember.objects.filter(workspace=workspace, user=user).exists()
    return OrganizationMember.objects.filter(
        organization=organization, user=user
    ).exists()


@transaction.atomic
def invitation_create(
    *,
    organization: Organization,
    email: str,
    role: str,
    invited_by: User,
    site_url: str,
    workspace: Workspace | None = None,
) -> CreatedInvitation:
    """Invite ``email``; an earlier pending invitation to the same place is replaced.

    The email with the link is sent once the transaction commits. There is
    no plan limit on people, so none is checked here.
    """
    email = email.strip()
    _check_role(role, workspace)
    if workspace is not None and workspace.organization_id != organization.pk:
        raise InvitationNotFound("No such workspace.")
    if _already_member(organization, workspace, email):
        where = "workspace" if workspace else "organization"
        raise AlreadyMember(
            f"{email} is already a member of this {where}; change their role instead.",
            field="email",
        )

    now = timezone.now()
    earlier = _pending(
        Invitation.objects.filter(
            organization=organization, workspace=workspace, email__iexact=email
        )
    )
    earlier.update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        workspace=workspace,
        email=email,
        role=role,
        token_hash=token_digest(token),
        expires_at=now + timedelta(days=settings.ATRIUM_INVITATION_TTL_DAYS),
        invited_by=invited_by,
    )
    audit_record(
        action="invitation.created",
        organization_id=organization.pk,
        workspace_id=workspace.pk if workspace else None,
        target=invitation,
        metadata={"email": email, "role": role},
    )

    url = site_url.rstrip("/") + invitation_path(token)
    context: dict[str, object] = {
        "invitation": invitation,
        "organization": organization,
        "workspace": workspace,
        "inviter": invited_by,
        "url": url,
        "expires_at": invitation.expires_at,
    }
    transaction.on_commit(lambda: _send(email, context))
    return CreatedInvitation(invitation=invitation, token=token, url=url)


def _send(email: str, context: dict[str, object]) -> None:
    subject = render_to_string("tenancy/email/invitation_subject.txt", context)
    body = render_to_string("tenancy/email/invitation_message.txt", context)
    send_mail(" ".join(subject.split()), body, None, [email])
    logger.info("Invitation sent", extra={"invitation": str(context["invitation"])})


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Revoke a pending invitation: its link stops working at once."""
    if invitation.accepted_at is not None:
        raise InvitationAlreadyAccepted("This invitation was already accepted.")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            action="invitation.revoked",
            organization_id=invitation.organization_id,
            workspace_id=invitation.workspace_id,
            target=invitation,
            metadata={"email": invitation.email},
        )
    return invitation


@dataclass(frozen=True)
class InvitationPreview:
    """What an invitation link shows before anyone accepts it."""

    id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    workspace_id: uuid.UUID | None
    workspace_name: str | None
    email: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    invited_by_email: str | None

    @property
    def role_label(self) -> str:
        choices = WorkspaceRole if self.workspace_id else OrganizationRole
        return str(dict(choices.choices).get(self.role, self.role))


def invitation_preview(*, token: str) -> InvitationPreview:
    """The invitation behind a link, or the error that explains why it is dead."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM atrium_invitation_lookup(%s)", [token_digest(token)]
        )
        row = cursor.fetchone()
    if row is None or not row[-1]:
        raise InvitationNotFound(
            "This invitation link is not valid. Ask for a new invitation."
        )
    preview = InvitationPreview(*row[:-1])
    if preview.accepted_at is not None:
        raise InvitationAlreadyAccepted("This invitation has already been accepted.")
    if preview.revoked_at is not None:
        raise InvitationRevoked(
            "This invitation was withdrawn. Ask whoever invited you for a new one."
        )
    if preview.expires_at <= timezone.now():
        raise InvitationExpired(
            "This invitation has expired. Ask whoever invited you for a new one."
        )
    return preview


def _wrong_email(preview: InvitationPreview) -> InvitationWrongEmail:
    return InvitationWrongEmail(
        f"This invitation was sent to {preview.email}. Log in with that address, "
        "or add and verify it under Email addresses, to accept it.",
        email=preview.email,
    )


@transaction.atomic
def invitation_accept(*, user: User, token: str) -> InvitationPreview:
    """Join what the invitation offers, as ``user`` (the transaction's principal).

    The database door checks everything again under a row lock, so two
    concurrent acceptances cannot both succeed.
    """
    preview = invitation_preview(token=token)
    if preview.email.lower() not in user_verified_emails(user=user):
        raise _wrong_email(preview)

    with connection.cursor() as cursor:
        cursor.execute("SELECT atrium_invitation_accept(%s)", [token_digest(token)])
        (outcome,) = cursor.fetchone() or ("not_found",)
    if outcome == "ok":
        return preview
    if outcome == "wrong_email":
        raise _wrong_email(preview)
    if outcome == "accepted":
        raise InvitationAlreadyAccepted("This invitation has already been accepted.")
    if outcome == "revoked":
        raise InvitationRevoked("This invitation was withdrawn.")
    if outcome == "expired":
        raise InvitationExpired("This invitation has expired.")
    raise InvitationNotFound("This invitation link is not valid.")


def invitation_list(
    *, organization: Organization, workspace: Workspace | None = None
) -> QuerySet[Invitation]:
    """Pending invitations of an organization (or of one of its workspaces)."""
    queryset = Invitation.objects.filter(organization=organization)
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    return (
        _pending(queryset)
        .select_related("workspace", "invited_by")
        .order_by("-created_at")
    )


def invitation_get(
    *,
    organization: Organization,
    invitation_id: uuid.UUID,
    workspace: Workspace | None = None,
) -> Invitation | None:
    """One invitation of ``organization`` (of ``workspace``, if given), or None."""
    queryset = Invitation.objects.filter(organization=organization, pk=invitation_id)
    if workspace is not None:
        queryset = queryset.filter(workspace=workspace)
    return queryset.select_related("organization", "workspace").first()
