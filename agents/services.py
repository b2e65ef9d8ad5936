"""Writes of agents and of organizations' provider credentials."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from agents.models import Agent, ProviderCredential
from agents.providers.credentials import organization_base_url_check
from tenancy import quotas, vault
from tenancy.errors import ConflictError
from tenancy.models import Organization, Workspace
from tenancy.services import audit_record


def _slug_taken(workspace: Workspace, slug: str, exclude: Agent | None = None) -> bool:
    agents = Agent.objects.filter(workspace=workspace, slug=slug)
    if exclude is not None:
        agents = agents.exclude(pk=exclude.pk)
    return agents.exists()


@transaction.atomic
def agent_create(*, workspace: Workspace, name: str, **fields: Any) -> Agent:
    """Create an agent in ``workspace``, within the organization's plan."""
    # Serialise agent creation per workspace so the limit holds under races.
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    organization = Organization.objects.get(pk=workspace.organization_id)
    quotas.check_limit(
        organization,
        limit="agents_per_workspace",
        current=Agent.objects.filter(workspace=workspace).count(),
    )
    slug = fields.pop("slug", "") or slugify(name)[:80] or "agent"
    if _slug_taken(workspace, slug):
        raise ConflictError(
            "An agent with this slug already exists in the workspace.", field="slug"
        )
    agent = Agent.objects.create(workspace=workspace, name=name, slug=slug, **fields)
    audit_record(
        action="agent.created",
        organization_id=workspace.organization_id,
        workspace_id=workspace.pk,
        target=agent,
    )
    return agent


@transaction.atomic
def agent_update(*, agent: Agent, fields: dict[str, Any]) -> Agent:
    if "slug" in fields and _slug_taken(agent.workspace, fields["slug"], agent):
        raise ConflictError(
            "An agent with this slug already exists in the workspace.", field="slug"
        )
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save(update_fields=[*fields, "updated_at"])
    audit_record(
        action="agent.updated",
        organization_id=agent.workspace.organization_id,
        workspace_id=agent.workspace_id,
        target=agent,
        metadata={"fields": sorted(fields)},
    )
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    """Delete an agent; its sessions stay, detached, for the workspace."""
    audit_record(
        action="agent.deleted",
        organization_id=agent.workspace.organization_id,
        workspace_id=agent.workspace_id,
        target=agent,
    )
    agent.delete()


@transaction.atomic
def provider_credential_set(
    *,
    organization: Organization,
    provider: str,
    api_key: str = "",
    base_url: str = "",
) -> tuple[ProviderCredential, bool]:
    """Store (or replace) the organization's key and server for ``provider``.

    The key is sealed before it is written and never logged; an empty key
    keeps only a base URL (a keyless local server). A base URL that is not
    the platform's must pass the address guard, else ``ProviderURLRefused``
    and nothing changes. Returns the credential and whether it was created.
    """
    if base_url:
        organization_base_url_check(provider=provider, base_url=base_url)
    sealed = vault.seal(api_key, what="Provider credentials") if api_key else ""
    credential, created = ProviderCredential.objects.update_or_create(
        organization=organization,
        provider=provider,
        defaults={
            "api_key_sealed": sealed,
            "api_key_hint": vault.hint(api_key) if api_key else "",
            "base_url": base_url,
        },
    )
    audit_record(
        action="provider_credential.set",
        organization_id=organization.pk,
        target=credential,
        metadata={
            "provider": provider,
            "has_key": bool(api_key),
            "base_url": base_url,
            "created": created,
        },
    )
    return credential, created


@transaction.atomic
def provider_credential_delete(*, credential: ProviderCredential) -> None:
    """Forget the organization's credential: its agents use the platform's again."""
    audit_record(
        action="provider_credential.deleted",
        organization_id=credential.organization_id,
        target=credential,
        metadata={"provider": credential.provider},
    )
    credential.delete()


def provider_credentials_rotate() -> vault.Resealed:
    """Re-seal every stored provider key with the newest encryption key.

    System work across organizations, through the two narrow functions of
    migration 0005 (list sealed values; swap one if it is still the value
    read, so a key an admin replaced meanwhile is left alone). A value no
    configured key opens is counted as broken and left as it is. Each swap
    commits on its own when run outside a transaction.
    """
    return vault.reseal_stored(
        what="provider credential",
        listing="atrium_provider_credentials_sealed",
        swap="atrium_provider_credential_reseal",
    )
