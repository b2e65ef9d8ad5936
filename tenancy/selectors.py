"""Reads of the tenancy hierarchy, scoped explicitly to the principal.

Row-level security would hide foreign rows anyway; these filters make the
intent visible in every query and keep query plans on the workspace indexes.
"""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import Case, Q, QuerySet, Value, When

from accounts.models import User
from tenancy.models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)

ROLE_ORDER = [
    OrganizationRole.OWNER,
    OrganizationRole.ADMIN,
    OrganizationRole.MEMBER,
    OrganizationRole.VIEWER,
]


def organization_list_for_user(*, user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(
        memberships__user=user, deleted_at__isnull=True
    ).order_by("name")


def organization_member_list(
    *, organization: Organization
) -> QuerySet[OrganizationMember]:
    """The organization's people, owners first, then by when they joined."""
    rank = Case(
        *(When(role=role, then=Value(i)) for i, role in enumerate(ROLE_ORDER)),
        default=Value(len(ROLE_ORDER)),
    )
    return (
        OrganizationMember.objects.filter(organization=organization)
        .select_related("user")
        .order_by(rank, "created_at")
    )


def workspace_member_list(*, workspace: Workspace) -> QuerySet[WorkspaceMember]:
    """People granted a role in the workspace itself, by when they joined."""
    return (
        WorkspaceMember.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("created_at")
    )


def workspace_member_candidates(*, workspace: Workspace) -> QuerySet[User]:
    """Organization members and viewers with no role in the workspace yet.

    Owners and admins are left out: they administer every workspace already.
    """
    return (
        User.objects.filter(
            organization_memberships__organization_id=workspace.organization_id,
            organization_memberships__role__in=[
                OrganizationRole.MEMBER,
                OrganizationRole.VIEWER,
            ],
            is_active=True,
        )
        .exclude(workspace_memberships__workspace=workspace)
        .order_by("email")
    )


def workspace_list_for_user(*, user: User) -> QuerySet[Workspace]:
    """Workspaces ``user`` may enter: granted directly or through an org role."""
    managed = Q(
        organization__memberships__user=user,
        organization__memberships__role__in=[
            OrganizationRole.OWNER,
            OrganizationRole.ADMIN,
        ],
    )
    return (
        Workspace.objects.filter(Q(memberships__user=user) | managed)
        .filter(deleted_at__isnull=True, organization__deleted_at__isnull=True)
        .distinct()
        .order_by("name")
    )


def workspace_ids_for_system() -> list[uuid.UUID]:
    """Every live workspace, for system jobs that then act inside each one."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT w FROM atrium_system_workspace_ids() AS w")
        return [row[0] for row in cursor.fetchall()]


def organization_roles_for_user(*, user: User) -> dict[uuid.UUID, str]:
    """The user's role in each of their organizations."""
    return dict(
        OrganizationMember.objects.filter(user=user).values_list(
            "organization_id", "role"
        )
    )


def workspace_admin_emails(
    *, organization_id: uuid.UUID, workspace_id: uuid.UUID
) -> list[str]:
    """Emails of the workspace's admins and its organization's owners and admins."""
    emails = set(
        OrganizationMember.objects.filter(
            organization_id=organization_id,
            role__in=[OrganizationRole.OWNER, OrganizationRole.ADMIN],
            user__is_active=True,
        ).values_list("user__email", flat=True)
    )
    emails |= set(
        WorkspaceMember.objects.filter(
            workspace_id=workspace_id, role=WorkspaceRole.ADMIN, user__is_active=True
        ).values_list("user__email", flat=True)
    )
    return sorted(emails)
