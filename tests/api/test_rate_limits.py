"""Rate limits: atomic under concurrency, with the standard headers, and what
happens when Redis is down."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tenancy import ratelimit, services
from tenancy.context import as_user
from tests.api.conftest import Api, user_api
from tests.support.tenants import make_tenant


def concurrently(count, call):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)

    def run(_):  # type: ignore[no-untyped-def]
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_concurrent_hits_against_ten_admit_exactly_ten():
    limit = ratelimit.Limit(f"test:{uuid.uuid4()}", 10)
    decisions = concurrently(50, lambda: ratelimit.hit([limit]))
    assert sum(d.allowed for d in decisions) == 10
    refused = [d for d in decisions if not d.allowed]
    assert all(int(d.headers()["Retry-After"]) >= 1 for d in refused)


def test_a_request_is_counted_only_when_every_window_has_room():
    tight = ratelimit.Limit(f"test:{uuid.uuid4()}", 2)
    loose = ratelimit.Limit(f"test:{uuid.uuid4()}", 100)
    results = [ratelimit.hit([tight, loose]).allowed for _ in range(5)]
    alone = ratelimit.hit([loose])
    assert results == [True, True, False, False, False]
    # The three refused requests did not use up the loose window.
    assert alone.remaining == 100 - 3


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_http_requests_with_a_key_limited_to_ten(live_server):
    tenant = make_tenant("rl")
    with as_user(tenant.owner.pk):
        key = services.api_key_create(
            workspace=tenant.workspace,
            name="k",
            scopes=["agents:read"],
            rate_limit_per_minute=10,
        )
    url = f"{live_server.url}/v1/workspaces/{tenant.workspace.pk}/agents"
    headers = {"Authorization": f"Bearer {key.raw_key}"}

    responses = concurrently(50, lambda: httpx.get(url, headers=headers, timeout=30))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 40, [r.text for r in responses][:3]
    for response in responses:
        assert response.headers["RateLimit-Limit"] == "10"
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["error"]["code"] == "rate_limited"


@pytest.mark.django_db
def test_the_workspace_limit_follows_the_plan():
    tenant = make_tenant("plan", plan_tier="free")
    api = user_api(tenant.owner)
    statuses = [
        api.get(f"/v1/workspaces/{tenant.workspace.pk}").status_code for _ in range(12)
    ]
    assert statuses == [200] * 10 + [429] * 2


@pytest.fixture
def redis_down(monkeypatch):  # type: ignore[no-untyped-def]
    """Point the limiter at a port where nothing listens."""
    dead = redis.Redis(
        host="127.0.0.1",
        port=1,
        socket_timeout=0.2,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    monkeypatch.setattr(ratelimit, "_client", dead)
    monkeypatch.setattr(ratelimit, "_down_until", 0.0)


@pytest.mark.django_db
def test_with_redis_down_the_api_keeps_serving_on_the_fallback(world, redis_down):
    api = world.api("key_read")
    responses = [api.get(f"/v1/workspaces/{world.a1.pk}/agents") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    # The in-process fallback still counts against the key's sixty.
    assert [r["RateLimit-Remaining"] for r in responses] == ["59", "58", "57"]


@pytest.mark.django_db
def test_with_redis_down_login_and_key_creation_fail_closed(world, redis_down):
    login = world.api("anonymous").post(
        "/v1/auth/login",
        {"email": world.users["owner"].email, "password": "correct horse battery"},
    )
    create = world.api("owner").post(
        f"/v1/workspaces/{world.a1.pk}/api-keys", {"name": "k"}
    )
    assert login.status_code == 503 and create.status_code == 503
    assert login.json()["error"]["code"] == "rate_limiter_unavailable"


@pytest.mark.django_db
def test_login_attempts_are_limited_per_address():
    anonymous = Api()
    statuses = [
        anonymous.post(
            "/v1/auth/login",
            {"email": f"nobody{i}@example.com", "password": "wrong password"},
            REMOTE_ADDR="203.0.113.7",
        ).status_code
        for i in range(12)
    ]
    assert statuses == [401] * 10 + [429] * 2
