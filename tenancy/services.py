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
from tenancy import keys
from tenancy.context import current_principal
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
def workspace_create(
    *, organization: Organization, name: str, slug: str = "", **fields: Any
) -> Workspace:
    slug = slug or _unique_slug(
        name, set(organization.workspaces.values_list("slug", flat=True))
    )
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
def workspace_member_add(
    *, workspace: Workspace, user: User, role: str = WorkspaceRole.MEMBER
) -> WorkspaceMember:
    member = WorkspaceMember.objects.create(workspace=workspace, user=user, role=role)
    audit_record(
        action="workspace.member_added",
        organization_id=workspace.organization_id,
        workspace_id=workspace.id,
        target=member,
        metadata={"user_id": str(user.pk), "role": role},
    )
    return member


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
    return api_key
