"""API keys through the API: shown once, listed by prefix, scoped, revoked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenancy.context import as_user
from tenancy.models import APIKey
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def test_the_key_is_shown_once_and_lists_show_its_prefix(world):
    owner = world.api("owner")
    created = owner.post(
        f"/v1/workspaces/{world.a1.pk}/api-keys",
        {"name": "CI", "scopes": ["search", "agents:read"], "environment": "test"},
    )
    body = created.json()
    assert created.status_code == 201
    assert body["key"].startswith("atr_test_")
    assert body["key"].startswith(body["prefix"])
    assert body["scopes"] == ["agents:read", "search"]

    listed = owner.get(f"/v1/workspaces/{world.a1.pk}/api-keys").json()["results"]
    fetched = owner.get(f"/v1/workspaces/{world.a1.pk}/api-keys/{body['id']}").json()
    text = str(listed) + str(fetched)
    assert body["key"] not in text
    assert "key_hash" not in text and "key" not in fetched
    assert body["prefix"] in text


def test_a_new_key_works_at_once_and_revocation_stops_it_at_once(world):
    owner = world.api("owner")
    key = owner.post(
        f"/v1/workspaces/{world.a1.pk}/api-keys",
        {"name": "k", "scopes": ["agents:read"]},
    ).json()
    client = Api(key["key"])
    assert client.get(f"/v1/workspaces/{world.a1.pk}/agents").status_code == 200

    revoked = owner.delete(f"/v1/workspaces/{world.a1.pk}/api-keys/{key['id']}")
    after = client.get(f"/v1/workspaces/{world.a1.pk}/agents")
    assert revoked.status_code == 204
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "api_key_revoked"


def test_an_expired_key_is_refused(world):
    key = world.keys["key_read"].api_key
    with as_user(world.users["owner"].pk):
        APIKey.objects.filter(pk=key.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    response = world.api("key_read").get(f"/v1/workspaces/{world.a1.pk}/agents")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_expired"


def test_expiry_in_the_past_and_unknown_scopes_are_refused(world):
    owner = world.api("owner")
    past = owner.post(
        f"/v1/workspaces/{world.a1.pk}/api-keys",
        {"name": "k", "expires_at": "2001-01-01T00:00:00Z"},
    )
    scope = owner.post(
        f"/v1/workspaces/{world.a1.pk}/api-keys", {"name": "k", "scopes": ["admin"]}
    )
    assert past.status_code == 400 and "expires_at" in past.json()["error"]["details"]
    assert scope.status_code == 400 and "scopes" in scope.json()["error"]["details"]


def test_last_used_is_written_at_most_once_a_minute(world):
    api = world.api("key_read")
    key = world.keys["key_read"].api_key
    api.get(f"/v1/workspaces/{world.a1.pk}/agents")
    with as_user(world.users["owner"].pk):
        first = APIKey.objects.get(pk=key.pk).last_used_at
    api.get(f"/v1/workspaces/{world.a1.pk}/agents")
    with as_user(world.users["owner"].pk):
        second = APIKey.objects.get(pk=key.pk).last_used_at
    assert first is not None and second == first


def test_a_key_reaches_only_its_workspace(world):
    """The design's test_api_key_scope: a key of A1 cannot touch A2 or B1."""
    api = world.api("key_all")
    own = api.get(f"/v1/workspaces/{world.a1.pk}/agents")
    sibling = api.get(f"/v1/workspaces/{world.a2.pk}/agents")
    foreign = api.get(f"/v1/workspaces/{world.b1.pk}/agents")
    assert own.status_code == 200
    assert [a["slug"] for a in own.json()["results"]] == ["helper"]
    assert sibling.status_code == 404 and foreign.status_code == 404


def test_live_and_test_keys_are_counted_apart(world):
    owner = world.api("owner")
    test_key = owner.post(
        f"/v1/workspaces/{world.a1.pk}/api-keys",
        {"name": "t", "environment": "test", "scopes": ["agents:read"]},
    ).json()["key"]
    for _ in range(3):
        Api(test_key).get(f"/v1/workspaces/{world.a1.pk}/agents")
    world.api("key_read").get(f"/v1/workspaces/{world.a1.pk}/agents")

    usage = owner.get(f"/v1/organizations/{world.org_a.pk}/usage").json()
    assert usage["monthly_requests"]["test"] == 3
    # The owner's own key creation above counted as a live workspace request.
    assert usage["monthly_requests"]["live"] == 2
