"""Writes of the tenancy hierarchy. Each is atomic and audited.

Callers run these inside a tenant context (a request, or ``as_user``);
row-level security then refuses any write outside the principal's reach.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from tenancy import keys, quotas
from tenancy.context import current_principal
from tenancy.errors import ConflictError, LastOwnerError, NotAnOrganizationMember
from tenancy.models import (
    APIKey,
    AuditLog,
    Organization,
    OrganizationMember,
    OrganizationRole,
    Workspace,
    WorkspaceMember,
    WorkspaceRole,
)

logger = logging.getLogger(__name__)


def audit_record(
    *,
    action: str,
    organization_id: uuid.UUID | None = None,
    workspace_id: uuid.UUID | None = None,
    target: Any = None,
    metadata: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditLog:
    """Append a security-relevant change to the audit log, as the principal."""
    principal = current_principal()
    return AuditLog.objects.create(
        action=action,
        organization_id=organization_id,
        workspace_id=workspace_id,
        actor_user_id=principal.user_id,
        actor_api_key_prefix=principal.api_key_prefix,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(getattr(target, "pk", "") or ""),
        metadata=metadata or {},
        ip_address=ip_address,
    )


def _unique_slug(base: str, taken: set[str]) -> str:
    slug = slugify(base)[:70] or "item"
    candidate, n = slug, 2
    while candidate in taken:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


@transaction.atomic
def organization_create(
    *, actor: User, name: str, contact_email: str = "", slug: str = "", **fields: Any
) -> Organization:
    """Create an organization with ``actor`` as its owner."""
    slug = slug or _unique_slug(
        name,
        set(
            Organization.objects.filter(
                slug__startswith=slugify(name)[:70]
            ).values_list("slug", flat=True)
        ),
    )
    organization = Organization.objects.create(
        name=name, slug=slug, contact_email=contact_email or actor.email, **fields
    )
    OrganizationMember.objects.create(
        organization=organization, user=actor, role=OrganizationRole.OWNER
    )
    audit_record(
        action="organization.created",
        organization_id=organization.id,
        target=organization,
    )
    return organization


@transaction.atomic
def organization_member_add(
    *, organization: Organization, user: User, role: str = OrganizationRole.MEMBER
) -> OrganizationMember:
    if OrganizationMember.objects.filter(organization=organization, user=user).exists():
        raise ConflictError("The user is already a member of this organization.")
    member = OrganizationMember.objects.create(
        organization=organization, user=user, role=role
    )
    audit_record(
        action="organization.member_added",
        organization_id=organization.id,
        target=member,
        metadata={"user_id": str(user.pk), "role": role},
    )
    return member


@transaction.atomic
def organization_update(
    *, organization: Organization, fields: dict[str, Any]
) -> Organization:
    for name, value in fields.items():
        setattr(organization, name, value)
    organization.save(update_fields=[*fields, "updated_at"])
    audit_record(
        action="organization.updated",
        organization_id=organization.id,
        target=organization,
        metadata={"fields": sorted(fields)},
    )
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization) -> Organization:
    """Soft-delete the organization and its workspaces; keys stop at once."""
    now = timezone.now()
    organization.deleted_at = now
    organization.save(update_fields=["deleted_at", "updated_at"])
    organization.workspaces.filter(deleted_at__isnull=True).update(deleted_at=now)
    APIKey.objects.filter(
        workspace__organization=organization, revoked_at__isnull=True
    ).update(is_active=False, revoked_at=now)
    audit_record(
        action="organization.deleted",
        organization_id=organization.id,
        target=organization,
    )
    return organization


def _locked(organization: Organization) -> Organization:
    # Serialises quota checks of one organization: two concurrent requests
    # cannot both take its last free slot.
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _owner_count(organization: Organization) -> int:
    return organization.memberships.filter(role=OrganizationRole.OWNER).count()


@transaction.atomic
def organization_member_change_role(
    *, member: OrganizationMember, role: str
) -> OrganizationMember:
    _locked(member.organization)
    if (
        member.role == OrganizationRole.OWNER
        and role != OrganizationRole.OWNER
        and _owner_count(member.organization) == 1
    ):
        raise LastOwnerError("An organization must keep at least one owner.")
    previous, member.role = member.role, role
    member.save(update_fields=["role"])
    audit_record(
        action="organization.member_role_changed",
        organization_id=member.organization_id,
        target=member,
        metadata={"user_id": str(member.user_id), "from": previous, "to": role},
    )
    return member


@transaction.atomic
def organization_member_remove(*, member: OrganizationMember) -> None:
    """Remove someone from an organization and from all its workspaces."""
    _locked(member.organization)
    if member.role == OrganizationRole.OWNER and _owner_count(member.organization) == 1:
        raise LastOwnerError("An organization must keep at least one owner.")
    WorkspaceMember.objects.filter(
        workspace__organization_id=member.organization_id, user_id=member.user_id
    ).delete()
    member.delete()
    audit_record(
        action="organization.member_removed",
        organization_id=member.organization_id,
        metadata={"user_id": str(member.user_id), "role": member.role},
    )


@transaction.atomic
def workspace_create(
    *, organization: Organization, name: str, slug: str = "", **fields: Any
) -> Workspace:
    """Create a workspace, within the organization's plan."""
    organization = _locked(organization)
    quotas.check_limit(
        organization,
        limit="workspaces",
        current=organization.workspaces.filter(deleted_at__isnull=True).count(),
    )
    taken = set(
        organization.workspaces.filter(deleted_at__isnull=True).values_list(
            "slug", flat=True
        )
    )
    if slug and slug in taken:
        raise ConflictError(
            "A workspace with this slug already exists.", field="slug", slug=slug
        )
    slug = slug or _unique_slug(name, taken)
    workspace = Workspace.objects.create(
        organization=organization, name=name, slug=slug, **fields
    )
    audit_record(
        action="workspace.created",
        organization_id=organization.id,
        workspace_id=workspace.id,
        target=workspace,
    )
    return workspace


@transaction.atomic
def workspace_update(*, workspace: Workspace, fields: dict[str, Any]) -> Workspace:
    if "slug" in fields and (
        Workspace.objects.filter(
            organization_id=workspace.organization_id,
            slug=fields["slug"],
            deleted_at__isnull=True,
        )
        .exclude(pk=workspace.pk)
        .exists()
    ):
        raise ConflictError("A workspace with this slug already exists.", field="slug")
    for name, value in fields.items():
        setattr(workspace, name, value)
    workspace.save(update_fields=[*fields, "updated_at"])
    audit_record(
        action="workspace.updated",
        organization_id=workspace.organization_id,
        workspace_id=workspace.id,
        target=workspace,
        metadata={"fields": sorted(fields)},
    )
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace) -> Workspace:
    """Soft-delete a workspace; its keys are revoked at once."""
    now = timezone.now()
    workspace.deleted_at = now
    workspace.save(update_fields=["deleted_at", "updated_at"])
    workspace.api_keys.filter(revoked_at__isnull=True).update(
        is_active=False, revoked_at=now
    )
    audit_record(
        action="workspace.deleted",
        organization_id=workspace.organization_id,
        workspace_id=workspace.id,
        target=workspace,
    )
    return workspace


@transaction.atomic
def workspace_member_add(
    *, workspace: Workspace, user: User, role: str = WorkspaceRole.MEMBER
) -> WorkspaceMember:
    if not OrganizationMember.objects.filter(
        organization_id=workspace.organization_id, user=user
    ).exists():
        raise NotAnOrganizationMember("Add the user to the organization first.")
    if WorkspaceMember.objects.filter(workspace=workspace, user=user).exists():
        raise ConflictError("The user is already a member of this workspace.")
    member = WorkspaceMember.objects.create(workspace=workspace, user=user, role=role)
    audit_record(
        action="workspace.member_added",
        organization_id=workspace.organization_id,
        workspace_id=workspace.id,
        target=member,
        metadata={"user_id": str(user.pk), "role": role},
    )
    return member


@transaction.atomic
def workspace_member_change_role(
    *, member: WorkspaceMember, role: str
) -> WorkspaceMember:
    previous, member.role = member.role, role
    member.save(update_fields=["role"])
    audit_record(
        action="workspace.member_role_changed",
        organization_id=member.workspace.organization_id,
        workspace_id=member.workspace_id,
        target=member,
        metadata={"user_id": str(member.user_id), "from": previous, "to": role},
    )
    return member


@transaction.atomic
def workspace_member_remove(*, member: WorkspaceMember) -> None:
    member.delete()
    audit_record(
        action="workspace.member_removed",
        organization_id=member.workspace.organization_id,
        workspace_id=member.workspace_id,
        metadata={"user_id": str(member.user_id), "role": member.role},
    )


@dataclass(frozen=True)
class CreatedAPIKey:
    """A new key and its secret, which exists only in this object."""

    api_key: APIKey
    raw_key: str


def api_key_create(
    *,
    workspace: Workspace,
    name: str,
    environment: str = "live",
    scopes: list[str] | None = None,
    rate_limit_per_minute: int = 60,
    expires_at: datetime | None = None,
    created_by: User | None = None,
) -> CreatedAPIKey:
    """Create a key for ``workspace``; the secret is returned once, never stored."""
    for _attempt in range(3):
        parsed = keys.generate(environment)
        try:
            with transaction.atomic():
                api_key = APIKey.objects.create(
                    workspace=workspace,
                    name=name,
                    prefix=parsed.prefix,
                    key_hash=keys.digest(parsed.raw),
                    environment=environment,
                    rate_limit_per_minute=rate_limit_per_minute,
                    expires_at=expires_at,
                    created_by=created_by,
                    **({"scopes": scopes} if scopes is not None else {}),
                )
                audit_record(
                    action="api_key.created",
                    organization_id=workspace.organization_id,
                    workspace_id=workspace.id,
                    target=api_key,
                    metadata={"prefix": api_key.prefix, "scopes": api_key.scopes},
                )
        except IntegrityError:
            # Two keys drew the same 8-character lookup prefix; draw again.
            logger.warning("API key prefix collision in workspace %s", workspace.pk)
            continue
        return CreatedAPIKey(api_key=api_key, raw_key=parsed.raw)
    raise RuntimeError("Could not allocate a unique API key prefix.")


@transaction.atomic
def api_key_revoke(*, api_key: APIKey, reason: str = "") -> APIKey:
    """Revoke a key at once and for good."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.is_active = False
        api_key.save(update_fields=["revoked_at", "is_active"])
        audit_record(
            action="api_key.revoked",
            organization_id=api_key.workspace.organization_id,
            workspace_id=api_key.workspace_id,
            target=api_key,
            metadata={"prefix": api_key.prefix, "reason": reason},
        )
        from tenancy.webhooks import event_emit

        event_emit(
            workspace_id=api_key.workspace_id,
            type="api_key.revoked",
            data={
                "api_key_id": str(api_key.pk),
                "name": api_key.name,
                "prefix": api_key.prefix,
                "reason": reason,
                "revoked_at": api_key.revoked_at.isoformat(),
            },
        )
    return api_key
