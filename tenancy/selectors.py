"""Reads of the tenancy hierarchy, scoped explicitly to the principal.

Row-level security would hide foreign rows anyway; these filters make the
intent visible in every query and keep query plans on the workspace indexes.
"""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import User
from tenancy.models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
)


def organization_list_for_user(*, user: User) -> QuerySet[Organization]:
    return Organization.objects.filter(
        memberships__user=user, deleted_at__isnull=True
    ).order_by("name")


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
