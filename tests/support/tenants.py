"""Build tenants the way the product does: through services, as their users."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from accounts.models import User
from agents.models import Agent
from knowledge.models import Chunk, Document
from tenancy import services
from tenancy.context import as_user, as_workspace
from tenancy.models import Organization, Workspace

_sequence = itertools.count()


@dataclass
class Tenant:
    owner: User
    organization: Organization
    workspace: Workspace


def make_user(label: str = "user", **fields: object) -> User:
    # Verified unless a test says otherwise: the dashboard lets nobody in
    # before their address is verified (ACCOUNT_EMAIL_VERIFICATION).
    fields.setdefault("email_verified", True)
    # Unique across runs, so rows left by an interrupted run never collide.
    return User.objects.create_user(
        f"{label}-{uuid.uuid4().hex[:10]}@example.com",
        "correct horse battery",
        **fields,
    )


# The pro plan's limits: room for the tests that are not about limits.
PRO_LIMITS = {
    "plan_tier": "pro",
    "max_workspaces": 10,
    "max_documents_per_workspace": 5000,
    "max_monthly_requests": 100_000,
    "max_agents_per_workspace": 20,
}


def make_tenant(label: str, **limits: Any) -> Tenant:
    owner = make_user(f"owner-{label}")
    with as_user(owner.pk):
        organization = services.organization_create(
            actor=owner,
            name=f"Org {label.upper()} {next(_sequence)}",
            **{**PRO_LIMITS, **limits},
        )
        workspace = services.workspace_create(
            organization=organization, name=f"Workspace {label.upper()}"
        )
    return Tenant(owner=owner, organization=organization, workspace=workspace)


def add_workspace(tenant: Tenant, name: str) -> Workspace:
    with as_user(tenant.owner.pk):
        return services.workspace_create(organization=tenant.organization, name=name)


def add_document(workspace: Workspace, title: str, text: str) -> Document:
    """Store a document and its text as one chunk, as system work in the workspace."""
    with as_workspace(workspace.pk):
        document = Document.objects.create(
            workspace=workspace, title=title, content=text, status="ready"
        )
        Chunk.objects.create(
            workspace=workspace, document=document, chunk_index=0, content=text
        )
        document.chunk_count = 1
        document.save(update_fields=["chunk_count"])
    return document


def add_agent(workspace: Workspace, slug: str) -> Agent:
    with as_workspace(workspace.pk):
        return Agent.objects.create(
            workspace=workspace,
            name=slug.title(),
            slug=slug,
            system_prompt="Answer from the workspace's documents.",
        )
