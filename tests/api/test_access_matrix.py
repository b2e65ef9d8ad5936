"""Every endpoint and method against every persona: who may, who may not.

The table is written out by hand rather than derived from the views' access
maps, so a change to a rule has to change this table too.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

ORG_MEMBERS = {"owner", "org_admin", "org_member", "ws_admin", "ws_viewer", "org_only"}
ORG_MANAGERS = {"owner", "org_admin"}
WS_USERS = {"owner", "org_admin", "org_member", "ws_admin", "ws_viewer"}
WS_ADMINS = {"owner", "org_admin", "ws_admin"}
WS_WRITERS = {"owner", "org_admin", "org_member", "ws_admin"}
A_KEYS = {"key_all", "key_read", "key_search"}
ALL_PERSONAS = sorted(ORG_MEMBERS | A_KEYS | {"outsider", "key_b", "anonymous"})

# (name, method, path, body, personas allowed)
ENDPOINTS = [
    ("org get", "GET", "/v1/organizations/{org}", None, ORG_MEMBERS),
    ("org update", "PATCH", "/v1/organizations/{org}", {"contact_name": "X"},
     ORG_MANAGERS),
    ("org delete", "DELETE", "/v1/organizations/{org}", None, {"owner"}),
    ("org workspaces", "GET", "/v1/organizations/{org}/workspaces", None,
     ORG_MEMBERS),
    ("org workspace create", "POST", "/v1/organizations/{org}/workspaces",
     {"name": "New"}, ORG_MANAGERS),
    ("org members", "GET", "/v1/organizations/{org}/members", None, ORG_MEMBERS),
    ("org member add", "POST", "/v1/organizations/{org}/members",
     {"email": "{newcomer_email}", "role": "member"}, ORG_MANAGERS),
    ("org member role", "PATCH", "/v1/organizations/{org}/members/{org_only}",
     {"role": "viewer"}, ORG_MANAGERS),
    ("org member remove", "DELETE", "/v1/organizations/{org}/members/{org_only}",
     None, ORG_MANAGERS),
    ("org usage", "GET", "/v1/organizations/{org}/usage", None, ORG_MANAGERS),
    ("provider credentials", "GET", "/v1/organizations/{org}/provider-credentials",
     None, ORG_MANAGERS),
    ("provider credential set", "PUT",
     "/v1/organizations/{org}/provider-credentials/anthropic",
     {"api_key": "sk-ant-matrix-0123456789"}, ORG_MANAGERS),
    ("org billing", "GET", "/v1/organizations/{org}/billing", None, ORG_MANAGERS),
    ("ws get", "GET", "/v1/workspaces/{ws}", None, WS_USERS | A_KEYS),
    ("ws update", "PATCH", "/v1/workspaces/{ws}", {"description": "x"}, WS_ADMINS),
    ("ws delete", "DELETE", "/v1/workspaces/{ws}", None, WS_ADMINS),
    ("ws members", "GET", "/v1/workspaces/{ws}/members", None, WS_USERS),
    ("ws member add", "POST", "/v1/workspaces/{ws}/members",
     {"user_id": "{org_only}", "role": "viewer"}, WS_ADMINS),
    ("ws member role", "PATCH", "/v1/workspaces/{ws}/members/{ws_viewer}",
     {"role": "member"}, WS_ADMINS),
    ("ws member remove", "DELETE", "/v1/workspaces/{ws}/members/{ws_viewer}", None,
     WS_ADMINS),
    ("keys list", "GET", "/v1/workspaces/{ws}/api-keys", None, WS_ADMINS),
    ("key create", "POST", "/v1/workspaces/{ws}/api-keys", {"name": "n"},
     WS_ADMINS),
    ("key get", "GET", "/v1/workspaces/{ws}/api-keys/{key}", None, WS_ADMINS),
    ("key revoke", "DELETE", "/v1/workspaces/{ws}/api-keys/{key}", None, WS_ADMINS),
    ("webhooks list", "GET", "/v1/workspaces/{ws}/webhooks", None, WS_ADMINS),
    ("webhook create", "POST", "/v1/workspaces/{ws}/webhooks",
     {"url": "http://127.0.0.1:9/hook", "events": ["document.ready"]}, WS_ADMINS),
    ("exports list", "GET", "/v1/workspaces/{ws}/exports", None, WS_ADMINS),
    ("export create", "POST", "/v1/workspaces/{ws}/exports", {}, WS_ADMINS),
    ("agents list", "GET", "/v1/workspaces/{ws}/agents", None,
     WS_USERS | {"key_all", "key_read"}),
    ("agent create", "POST", "/v1/workspaces/{ws}/agents",
     {"name": "New", "system_prompt": "Be brief."}, WS_WRITERS | {"key_all"}),
    ("agent get", "GET", "/v1/workspaces/{ws}/agents/{agent}", None,
     WS_USERS | {"key_all", "key_read"}),
    ("agent update", "PATCH", "/v1/workspaces/{ws}/agents/{agent}",
     {"temperature": 0.2}, WS_WRITERS | {"key_all"}),
    ("agent delete", "DELETE", "/v1/workspaces/{ws}/agents/{agent}", None,
     WS_WRITERS | {"key_all"}),
    ("documents list", "GET", "/v1/workspaces/{ws}/documents", None,
     WS_USERS | {"key_all"}),
    ("document create", "POST", "/v1/workspaces/{ws}/documents",
     {"title": "T", "text": "some text"}, WS_WRITERS | {"key_all"}),
    ("document get", "GET", "/v1/workspaces/{ws}/documents/{document}", None,
     WS_USERS | {"key_all"}),
    ("document delete", "DELETE", "/v1/workspaces/{ws}/documents/{document}", None,
     WS_WRITERS | {"key_all"}),
    ("document content replace", "PUT",
     "/v1/workspaces/{ws}/documents/{document}/content", {"text": "new text"},
     WS_WRITERS | {"key_all"}),
    ("ingest job get", "GET", "/v1/workspaces/{ws}/ingest/{job}", None,
     WS_USERS | {"key_all"}),
    ("search", "POST", "/v1/workspaces/{ws}/search",
     {"query": "anything", "search_type": "text"},
     WS_USERS | {"key_all", "key_search"}),
    ("chat", "POST", "/v1/workspaces/{ws}/chat",
     {"agent_id": "{agent}", "query": "How do I reset my password?"},
     WS_USERS | {"key_all"}),
    ("chat sessions", "GET", "/v1/workspaces/{ws}/chat/sessions", None,
     WS_USERS | {"key_all"}),
    ("eval sets", "GET", "/v1/workspaces/{ws}/eval-sets", None,
     WS_USERS | {"key_all", "key_read"}),
    ("eval set create", "POST", "/v1/workspaces/{ws}/eval-sets",
     {"name": "n", "questions": [{"question": "q", "expected_document_ids": [
         "00000000-0000-4000-8000-000000000001"]}]},
     WS_WRITERS | {"key_all"}),
]  # fmt: skip

ORG_SCOPED = {name for name, _m, path, _b, _a in ENDPOINTS if "{org}" in path}


def fill(template, world):  # type: ignore[no-untyped-def]
    values = {
        "org": world.org_a.pk,
        "ws": world.a1.pk,
        "agent": world.agents["a1"].pk,
        "key": world.keys["key_read"].api_key.pk,
        "org_only": world.users["org_only"].pk,
        "ws_viewer": world.users["ws_viewer"].pk,
        "newcomer_email": world.users["newcomer"].email,
        "document": world.document.pk,
        "job": world.job.pk,
    }
    if isinstance(template, dict):
        return {k: fill(v, world) for k, v in template.items()}
    if isinstance(template, str):
        return template.format(**values)
    return template


def expected(name: str, persona: str, allowed: set[str]) -> str:
    if persona == "anonymous":
        return "401"
    if persona in allowed:
        return "ok"
    if persona in {"outsider", "key_b"}:
        return "404"
    if name in ORG_SCOPED:
        return "403"  # every member of A and every key of A sees organization A
    if persona == "org_only":
        return "404"  # an organization member without a grant cannot see A1
    return "403"


@pytest.mark.parametrize("persona", ALL_PERSONAS)
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "allowed"),
    ENDPOINTS,
    ids=[endpoint[0] for endpoint in ENDPOINTS],
)
def test_access(world, name, method, path, body, allowed, persona):
    response = world.api(persona).call(method, fill(path, world), fill(body, world))
    outcome = expected(name, persona, allowed)
    code = response.json()["error"]["code"] if response.status_code >= 400 else ""

    if outcome == "ok":
        assert 200 <= response.status_code < 300, (response.status_code, code)
    elif outcome == "403":
        assert response.status_code == 403, (response.status_code, code)
        assert code in {
            "insufficient_role",
            "insufficient_scope",
            "api_key_not_allowed",
        }
    elif outcome == "404":
        assert response.status_code == 404, (response.status_code, code)
        assert code == "not_found"
    else:
        assert response.status_code == 401, (response.status_code, code)
