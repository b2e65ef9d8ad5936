"""Personas and clients for the dashboard's page tests.

Organization A (pro plan) has workspaces A1 and A2 and one person in each
role: its owner, an organization admin, a member (member of A1), a viewer
(viewer of A1); the outsider owns organization B. Templates run strict:
a missing variable renders as a marker the tests look for.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from tenancy import ratelimit, services
from tenancy.context import as_user
from tests.support.tenants import add_workspace, make_tenant, make_user

# Rendered in place of any variable a template names but the context lacks.
MISSING = "MISSING-VARIABLE"
PERSONAS = ["owner", "admin", "member", "viewer", "outsider"]
ORGANIZATION_MANAGERS = {"owner", "admin"}


@pytest.fixture(autouse=True)
def _strict_templates(settings: Any) -> None:
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["string_if_invalid"] = MISSING + "[%s]"
    settings.TEMPLATES = templates


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    # allauth counts log-ins and sign-ups per address in the cache.
    for key in ratelimit.client().scan_iter("atrium:*"):
        ratelimit.client().delete(key)


@dataclass
class People:
    org_a: Any
    a1: Any
    a2: Any
    org_b: Any
    b1: Any
    users: dict[str, Any] = field(default_factory=dict)

    def client(self, persona: str, **kwargs: Any) -> Client:
        client = Client(**kwargs)
        if persona != "anonymous":
            client.force_login(self.users[persona])
        return client


@pytest.fixture
def people(db: None) -> People:
    a = make_tenant("a")
    b = make_tenant("b")
    a2 = add_workspace(a, "Workspace A2")
    users = {"owner": a.owner, "outsider": b.owner}
    grants = {
        "admin": ("admin", None),
        "member": ("member", "member"),
        "viewer": ("viewer", "viewer"),
    }
    with as_user(a.owner.pk):
        for persona, (org_role, ws_role) in grants.items():
            user = make_user(persona, email_verified=True)
            users[persona] = user
            services.organization_member_add(
                organization=a.organization, user=user, role=org_role
            )
            if ws_role:
                services.workspace_member_add(
                    workspace=a.workspace, user=user, role=ws_role
                )
    return People(
        org_a=a.organization,
        a1=a.workspace,
        a2=a2,
        org_b=b.organization,
        b1=b.workspace,
        users=users,
    )


def page_text(response: Any) -> str:
    """The body of a rendered page, failing on any missing template variable."""
    text = response.content.decode()
    assert MISSING not in text, text[text.index(MISSING) - 200 :][:400]
    return text


YOU = '<span class="badge">You</span>'


def row_marked_you(html: str) -> str:
    """The one table row of a page that carries the "You" badge."""
    assert html.count(YOU) == 1
    at = html.index(YOU)
    return html[html.rfind("<tr>", 0, at) : html.index("</tr>", at)]
