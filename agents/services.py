"""Writes of agents."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from agents.models import Agent
from tenancy import quotas
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
