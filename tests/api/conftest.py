"""Personas and HTTP clients for the API tests.

Organization A (pro plan) has workspaces A1 and A2 and people in every role;
organization B is the outsider with its own workspace and key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from accounts.tokens import token_pair_issue
from knowledge.models import Document, IngestJob
from tenancy import ratelimit, services
from tenancy.context import as_user, as_workspace
from tests.support.tenants import add_agent, add_workspace, make_tenant, make_user


class Api:
    """A JSON client that speaks with one credential."""

    def __init__(self, credential: str | None = None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {credential}"} if credential else {}
        self.client = Client(**headers)
        self.credential = credential

    def call(self, method: str, path: str, body: Any = None, **extra: Any):
        kwargs: dict[str, Any] = dict(extra)
        if body is not None:
            kwargs["data"] = json.dumps(body)
            kwargs["content_type"] = "application/json"
        return getattr(self.client, method.lower())(path, **kwargs)

    def get(self, path: str, **extra: Any):
        return self.call("GET", path, **extra)

    def post(self, path: str, body: Any = None, **extra: Any):
        return self.call("POST", path, body, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any):
        return self.call("PATCH", path, body, **extra)

    def delete(self, path: str, **extra: Any):
        return self.call("DELETE", path, **extra)


def user_api(user) -> Api:  # type: ignore[no-untyped-def]
    return Api(token_pair_issue(user=user).access_token)


@dataclass
class World:
    org_a: Any
    a1: Any
    a2: Any
    org_b: Any
    b1: Any
    users: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, Any] = field(default_factory=dict)
    document: Any = None
    job: Any = None

    def api(self, persona: str) -> Api:
        if persona == "anonymous":
            return Api()
        if persona in self.keys:
            return Api(self.keys[persona].raw_key)
        return user_api(self.users[persona])


@pytest.fixture(autouse=True, scope="session")
def _fresh_rate_limits() -> None:
    """Start the session with empty rate-limit windows and counters."""
    for key in ratelimit.client().scan_iter("atrium:*"):
        ratelimit.client().delete(key)


@pytest.fixture
def world(db: None) -> World:
    a = make_tenant("a")
    b = make_tenant("b")
    a2 = add_workspace(a, "Workspace A2")
    users = {"owner": a.owner, "outsider": b.owner, "newcomer": make_user("new")}
    org_roles = {
        "org_admin": ("admin", None),
        "org_member": ("member", "member"),
        "ws_admin": ("member", "admin"),
        "ws_viewer": ("viewer", "viewer"),
        "org_only": ("member", None),
    }
    with as_user(a.owner.pk):
        for persona, (org_role, ws_role) in org_roles.items():
            user = make_user(persona)
            users[persona] = user
            services.organization_member_add(
                organization=a.organization, user=user, role=org_role
            )
            if ws_role:
                services.workspace_member_add(
                    workspace=a.workspace, user=user, role=ws_role
                )
        keys = {
            "key_all": services.api_key_create(
                workspace=a.workspace,
                name="all",
                scopes=[
                    "chat",
                    "search",
                    "documents:read",
                    "documents:write",
                    "agents:read",
                    "agents:write",
                ],
            ),
            "key_read": services.api_key_create(
                workspace=a.workspace, name="read", scopes=["agents:read"]
            ),
            "key_search": services.api_key_create(
                workspace=a.workspace, name="search", scopes=["search"]
            ),
        }
    with as_user(b.owner.pk):
        keys["key_b"] = services.api_key_create(
            workspace=b.workspace, name="b", scopes=["agents:read", "agents:write"]
        )
    agents = {
        "a1": add_agent(a.workspace, "helper"),
        "a2": add_agent(a2, "other"),
        "b1": add_agent(b.workspace, "foreign"),
    }
    with as_workspace(a.workspace.pk):
        document = Document.objects.create(
            workspace=a.workspace, title="Handbook", content="text", status="ready"
        )
        job = IngestJob.objects.create(
            workspace=a.workspace,
            files=[{"name": "h.txt", "document_id": str(document.pk), "created": True}],
        )
    return World(
        document=document,
        job=job,
        org_a=a.organization,
        a1=a.workspace,
        a2=a2,
        org_b=b.organization,
        b1=b.workspace,
        users=users,
        keys=keys,
        agents=agents,
    )
