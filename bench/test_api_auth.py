"""What API-key authentication costs per request.

Requests run in process (Django's test client, no network) against the real
PostgreSQL and Redis, interleaved so both kinds see the same conditions:

- ``anonymous``: GET /favicon.ico with no credential, a redirect whose view
  touches nothing (the middleware still opens the request's transaction and
  sets an empty tenant context; the health probes would skip all of that);
- ``api key``: the same request with a valid key, so the difference is the
  key's parse, checksum, lookup, constant-time compare and the conditional
  ``last_used_at`` write;
- ``api key, full endpoint``: GET /v1/workspaces/{id} with the key (access
  resolution, rate limits, monthly counter and serialisation on top).
"""

from __future__ import annotations

import time

import pytest
from django.test import Client

from bench.report import publish, summary
from tenancy import services
from tenancy.context import as_user

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 3000
WARMUP = 200


CHEAP = "/favicon.ico"


def timed(client: Client, path: str) -> float:
    start = time.perf_counter_ns()
    response = client.get(path)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    assert response.status_code == (302 if path == CHEAP else 200), response.content
    return elapsed


def test_api_key_authentication_cost(tenant_a, settings):
    settings.ATRIUM_PLAN_RATE_LIMITS = {
        tier: 10**9 for tier in ("free", "starter", "pro", "enterprise")
    }
    with as_user(tenant_a.owner.pk):
        key = services.api_key_create(
            workspace=tenant_a.workspace, name="bench", rate_limit_per_minute=10_000
        )
    anonymous = Client()
    keyed = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    endpoint = f"/v1/workspaces/{tenant_a.workspace.pk}"

    samples: dict[str, list[float]] = {"anonymous": [], "api key": [], "full": []}
    for i in range(WARMUP + ROUNDS):
        a = timed(anonymous, CHEAP)
        b = timed(keyed, CHEAP)
        c = timed(keyed, endpoint) if i % 3 == 0 else None
        if i >= WARMUP:
            samples["anonymous"].append(a)
            samples["api key"].append(b)
            if c is not None:
                samples["full"].append(c)

    base = summary(samples["anonymous"])
    rows = []
    for label, name in (
        ("anonymous /favicon.ico", "anonymous"),
        ("api key /favicon.ico", "api key"),
        ("api key GET /v1/workspaces/{id}", "full"),
    ):
        stats = summary(samples[name])
        rows.append(
            {
                "request": label,
                **stats,
                "p50 ratio": round(stats["p50_ms"] / base["p50_ms"], 2),
                "p99 ratio": round(stats["p99_ms"] / base["p99_ms"], 2),
            }
        )
    overhead_p50 = summary(samples["api key"])["p50_ms"] - base["p50_ms"]
    overhead_p99 = summary(samples["api key"])["p99_ms"] - base["p99_ms"]
    publish(
        "api_auth",
        rows,
        [
            f"key authentication overhead: p50 {overhead_p50:.3f} ms,"
            f" p99 {overhead_p99:.3f} ms (target: under 1 ms at p99)",
        ],
    )
