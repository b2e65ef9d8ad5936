"""Who may do what: roles, scopes, and the per-method rules views declare.

Each view states, per HTTP method, the least role a user needs and the scope
an API key needs (``None``: that kind of caller may not). A caller who cannot
see the organization or workspace at all gets 404 — never 403, which would
confirm it exists; a caller who can see it but lacks the role or scope gets
403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from rest_framework import exceptions

from tenancy.context import Principal
from tenancy.models import (
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)

ORGANIZATION_RANK: dict[str, int] = {
    OrganizationRole.VIEWER: 0,
    OrganizationRole.MEMBER: 1,
    OrganizationRole.ADMIN: 2,
    OrganizationRole.OWNER: 3,
}
WORKSPACE_RANK: dict[str, int] = {
    WorkspaceRole.VIEWER: 0,
    WorkspaceRole.MEMBER: 1,
    WorkspaceRole.ADMIN: 2,
}


# A rule's scope that admits any valid key of the workspace.
ANY_KEY = "*"


@dataclass(frozen=True)
class Rule:
    """The least ``role`` a user needs; the ``scope`` an API key needs."""

    role: str | None = None
    scope: str | None = None


class InsufficientRole(exceptions.PermissionDenied):
    default_detail = "Your role does not allow this."
    default_code = "insufficient_role"


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = "The API key lacks the scope this needs."
    default_code = "insufficient_scope"


class KeyNotAllowed(exceptions.PermissionDenied):
    default_detail = "API keys cannot do this; use a user access token."
    default_code = "api_key_not_allowed"


class NotFound(exceptions.NotFound):
    default_code = "not_found"


@dataclass(frozen=True)
class OrganizationAccess:
    organization: Organization
    role: str | None  # None for an API key


@dataclass(frozen=True)
class WorkspaceAccess:
    workspace: Workspace
    role: str | None  # the user's effective workspace role; None for a key
    organization_role: str | None


def organization_access(
    principal: Principal, organization_id: uuid.UUID
) -> OrganizationAccess:
    """The caller's standing in an organization, or 404."""
    organization = Organization.objects.filter(
        pk=organization_id, deleted_at__isnull=True
    ).first()
    if organization is None:
        raise NotFound("No such organization.")
    if principal.is_api_key:
        workspace_id = principal.api_key_workspace_id
        if (
            workspace_id is None
            or not organization.workspaces.filter(pk=workspace_id).exists()
        ):
            raise NotFound("No such organization.")
        return OrganizationAccess(organization, None)
    if principal.user_id is None:
        raise NotFound("No such organization.")

    role = (
        OrganizationMember.objects.filter(
            organization=organization, user_id=principal.user_id
        )
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise NotFound("No such organization.")
    return OrganizationAccess(organization, role)


def workspace_access(principal: Principal, workspace_id: uuid.UUID) -> WorkspaceAccess:
    """The caller's effective role in a workspace, or 404.

    Organization owners and admins act as admins of every workspace of their
    organization; everyone else needs a workspace membership. An API key
    reaches its own workspace only.
    """
    workspace = (
        Workspace.objects.select_related("organization")
        .filter(
            pk=workspace_id,
            deleted_at__isnull=True,
            organization__deleted_at__isnull=True,
        )
        .first()
    )
    if workspace is None:
        raise NotFound("No such workspace.")
    if principal.is_api_key:
        if principal.api_key_workspace_id != workspace.pk:
            raise NotFound("No such workspace.")
        return WorkspaceAccess(workspace, None, None)
    if principal.user_id is None:
        raise NotFound("No such workspace.")

    organization_role = (
        OrganizationMember.objects.filter(
            organization_id=workspace.organization_id, user_id=principal.user_id
        )
        .values_list("role", flat=True)
        .first()
    )
    if organization_role in (OrganizationRole.OWNER, OrganizationRole.ADMIN):
        return WorkspaceAccess(workspace, WorkspaceRole.ADMIN, organization_role)
    role = (
        WorkspaceMember.objects.filter(workspace=workspace, user_id=principal.user_id)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        raise NotFound("No such workspace.")
    return WorkspaceAccess(workspace, role, organization_role)


def enforce(
    rule: Rule | None, principal: Principal, role: str | None, ranks: dict[str, int]
) -> None:
    """Raise 403 unless ``rule`` admits the caller."""
    if rule is None:
        raise exceptions.MethodNotAllowed("this method")
    if principal.is_api_key:
        if rule.scope is None:
            raise KeyNotAllowed()
        if rule.scope != ANY_KEY and rule.scope not in principal.api_key_scopes:
            raise InsufficientScope(
                f"The API key lacks the '{rule.scope}' scope this needs."
            )
        return
    if rule.role is None or role is None or ranks[role] < ranks[rule.role]:
        raise InsufficientRole()
