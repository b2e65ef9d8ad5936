"""Helpers of the settings, API key, billing and analytics page tests.

Pages render with ``string_if_invalid`` set, so a template that reads a
missing variable shows a marker the helpers refuse. Personas are the API
tests' world (tests/api/conftest.py): organization A with people in every
role and B, the outsider.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client

from tests.api.conftest import World

# A workspace page seen by each kind of person: their effective workspace role.
WORKSPACE_PERSONAS = {
    "owner": "admin",  # organization owner
    "org_admin": "admin",  # organization admin, no workspace membership
    "ws_admin": "admin",
    "org_member": "member",
    "ws_viewer": "viewer",
}
# An organization page: the organization role.
ORGANIZATION_PERSONAS = {
    "owner": "owner",
    "org_admin": "admin",
    "org_member": "member",
    "ws_viewer": "viewer",
}
INVALID = "TEMPLATE-VARIABLE-MISSING"


@pytest.fixture
def strict_templates(settings: Any) -> None:
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["string_if_invalid"] = INVALID + "[%s]"
    settings.TEMPLATES = templates


def browser(world: World, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(world.users[persona])
    return client


def html(response: Any) -> str:
    """The page's text, after checking that its templates missed nothing."""
    text = response.content.decode()
    assert INVALID not in text, text[text.index(INVALID) - 200 :][:400]
    return text
