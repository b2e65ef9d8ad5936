"""The API keys page: admins list, create and revoke; the secret shows once."""

# Fixtures imported from tests/api/conftest.py are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import re

import pytest

from tenancy import keys, services
from tenancy.context import as_user
from tenancy.models import APIKey, AuditLog
from tests.api.conftest import Api, World, world  # noqa: F401  (fixture)
from tests.dashboard.test_settings_support import (
    WORKSPACE_PERSONAS,
    browser,
    html,
    strict_templates,  # noqa: F401  (fixture)
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

KEY = re.compile(r"atr_(?:live|test)_[0-9A-Za-z]{38}")


def _url(workspace, suffix: str = "") -> str:
    return f"/app/w/{workspace.pk}/keys/{suffix}"


def _nonce(page: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', page)
    assert found, "the create form carries a nonce"
    return found.group(1)


def _create(client, workspace, **fields):
    page = html(client.get(_url(workspace)))
    data = {
        "name": "Support widget",
        "environment": "live",
        "scopes": ["search", "agents:read"],
        "expiry": "",
        "rate_limit_per_minute": "120",
        "nonce": _nonce(page),
        **fields,
    }
    return client.post(_url(workspace), data), data


def _keys(world: World, workspace) -> list[APIKey]:
    with as_user(world.users["owner"].pk):
        return list(APIKey.objects.filter(workspace=workspace).order_by("created_at"))


@pytest.mark.parametrize(("persona", "role"), WORKSPACE_PERSONAS.items())
def test_admins_see_every_key_and_others_see_none(world, persona, role):
    page = html(browser(world, persona).get(_url(world.a1)))

    prefixes = [key.api_key.prefix for key in world.keys.values()]
    if role == "admin":
        for name in ("key_all", "key_read", "key_search"):
            assert world.keys[name].api_key.prefix in page
        assert world.keys["key_b"].api_key.prefix not in page
        assert "Create key" in page and "Revoke" in page
    else:
        assert not any(prefix in page for prefix in prefixes)
        assert "managed by workspace admins" in page
        assert "Create key" not in page and "Revoke" not in page
    for created in world.keys.values():
        assert created.raw_key not in page and created.api_key.key_hash not in page


def test_the_list_shows_what_the_api_shows(world):
    page = html(browser(world, "owner").get(_url(world.a1)))
    row = page[page.index(world.keys["key_search"].api_key.prefix) :]
    row = row[: row.index("</tr>")]

    assert "Live" in row and "search" in row and "60/min" in row
    assert "Never" in row and "Active" in row


@pytest.mark.parametrize("persona", ["outsider", "org_only", "newcomer"])
def test_people_outside_the_workspace_get_404(world, persona):
    client = browser(world, persona)
    key = world.keys["key_read"].api_key

    assert client.get(_url(world.a1)).status_code == 404
    assert client.post(_url(world.a1), {"name": "x"}).status_code == 404
    assert client.get(_url(world.a1, f"{key.pk}/revoke/")).status_code == 404
    assert client.post(_url(world.a1, f"{key.pk}/revoke/")).status_code == 404
    assert _keys(world, world.a1)[1].revoked_at is None


def test_the_key_is_shown_once_and_only_its_hash_is_stored(world):
    client = browser(world, "ws_admin")

    response, _ = _create(client, world.a1, environment="test", expiry="30")

    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]
    page = html(response)
    [raw] = set(KEY.findall(page))
    assert raw.startswith("atr_test_")
    assert "only time" in page and 'data-copy="#new-key-secret"' in page
    [created] = [k for k in _keys(world, world.a1) if raw.startswith(k.prefix)]
    assert created.name == "Support widget"
    assert created.scopes == ["agents:read", "search"]
    assert created.rate_limit_per_minute == 120
    assert created.environment == "test" and created.expires_at is not None
    assert created.created_by_id == world.users["ws_admin"].pk
    assert created.key_hash == keys.digest(raw) and raw not in created.key_hash
    stored = [str(value) for value in vars(created).values()]
    assert not any(raw in value for value in stored)
    assert raw not in str(dict(client.session.items()))

    again = html(client.get(_url(world.a1)))
    assert raw not in again and created.prefix in again
    assert not KEY.search(again)


def test_the_new_key_works_on_the_api_at_once(world):
    response, _ = _create(browser(world, "owner"), world.a1)
    [raw] = set(KEY.findall(html(response)))

    api = Api(raw)
    assert api.get(f"/v1/workspaces/{world.a1.pk}/agents").status_code == 200
    assert api.get(f"/v1/workspaces/{world.a2.pk}/agents").status_code == 404


def test_submitting_the_same_form_twice_creates_one_key(world):
    client = browser(world, "owner")
    before = len(_keys(world, world.a1))

    first, data = _create(client, world.a1)
    second = client.post(_url(world.a1), data)

    assert first.status_code == 201
    assert second.status_code == 302 and second["Location"] == _url(world.a1)
    assert len(_keys(world, world.a1)) == before + 1
    page = html(client.get(_url(world.a1)))
    assert "already created" in page and not KEY.search(page)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rate_limit_per_minute": "0"}, "greater than or equal to 1"),
        ({"rate_limit_per_minute": "20000"}, "less than or equal to 10000"),
        ({"scopes": []}, "This field is required"),
        ({"scopes": ["admin"]}, "not one of the available choices"),
        ({"expiry": "custom", "expires_on": "2001-01-01"}, "Must be in the future"),
        ({"expiry": "custom"}, "Choose the day the key expires"),
        ({"name": ""}, "This field is required"),
        ({"environment": "prod"}, "not one of the available choices"),
    ],
)
def test_bad_keys_are_refused_by_the_apis_rules(world, fields, message):
    before = len(_keys(world, world.a1))

    response, _ = _create(browser(world, "owner"), world.a1, **fields)

    assert response.status_code == 400
    page = html(response)
    assert message in page and not KEY.search(page)
    assert len(_keys(world, world.a1)) == before


@pytest.mark.parametrize("persona", ["org_member", "ws_viewer"])
def test_members_and_viewers_cannot_create_or_revoke(world, persona):
    client = browser(world, persona)
    key = world.keys["key_read"].api_key
    before = len(_keys(world, world.a1))

    created = client.post(
        _url(world.a1),
        {"name": "x", "environment": "live", "scopes": ["search"], "nonce": "n"},
    )
    asked = client.get(_url(world.a1, f"{key.pk}/revoke/"))
    revoked = client.post(_url(world.a1, f"{key.pk}/revoke/"))

    assert (created.status_code, asked.status_code, revoked.status_code) == (
        403,
        403,
        403,
    )
    assert len(_keys(world, world.a1)) == before
    assert (
        Api(world.keys["key_read"].raw_key)
        .get(f"/v1/workspaces/{world.a1.pk}/agents")
        .status_code
        == 200
    )


def test_revoking_asks_first_and_stops_the_key_at_once(world):
    client = browser(world, "owner")
    created = world.keys["key_read"]
    url = _url(world.a1, f"{created.api_key.pk}/revoke/")
    api = Api(created.raw_key)
    assert api.get(f"/v1/workspaces/{world.a1.pk}/agents").status_code == 200

    asked = html(client.get(url))
    assert "Revoke “read”?" in asked and "stop working at once" in asked
    assert api.get(f"/v1/workspaces/{world.a1.pk}/agents").status_code == 200

    response = client.post(url)

    assert response.status_code == 302 and response["Location"] == _url(world.a1)
    after = api.get(f"/v1/workspaces/{world.a1.pk}/agents")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "api_key_revoked"
    page = html(client.get(_url(world.a1)))
    assert "Key “read” revoked." in page and "Revoked" in page
    with as_user(world.users["owner"].pk):
        audit = AuditLog.objects.get(
            action="api_key.revoked", target_id=str(created.api_key.pk)
        )
    assert audit.actor_user_id == world.users["owner"].pk
    again = html(client.get(url))
    assert "was revoked on" in again and "Revoke key</button>" not in again


def test_another_workspaces_key_under_this_workspace_is_404(world):
    client = browser(world, "owner")
    with as_user(world.users["owner"].pk):
        sibling = services.api_key_create(workspace=world.a2, name="a2 key")
    foreign = world.keys["key_b"].api_key

    for key in (sibling.api_key, foreign):
        url = _url(world.a1, f"{key.pk}/revoke/")
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    assert client.get(_url(world.b1)).status_code == 404
    assert client.post(_url(world.b1), {"name": "mine"}).status_code == 404

    with as_user(world.users["outsider"].pk):
        assert APIKey.objects.get(pk=foreign.pk).revoked_at is None
    with as_user(world.users["owner"].pk):
        assert APIKey.objects.get(pk=sibling.api_key.pk).revoked_at is None
