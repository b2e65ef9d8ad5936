"""What the request's log line, metrics and alert counters cost.

The same API request (GET /v1/workspaces/{id} with an API key), in process
against the real PostgreSQL and Redis, through two clients interleaved so
both see the same conditions: one with Atrium's full middleware, one whose
middleware chain was built without ``RequestObservabilityMiddleware`` (no
request id, no log line, no metrics, no per-minute Redis counters). The log
line is formatted as JSON into a buffer, as production writes it.
"""

from __future__ import annotations

import io
import logging
import time

import pytest
from django.test import Client, override_settings

from bench.report import publish, summary
from tenancy import services
from tenancy.context import as_user
from tenancy.observability.logs import ContextFilter, JsonFormatter

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 2000
WARMUP = 200
OBSERVABILITY = "tenancy.observability.middleware.RequestObservabilityMiddleware"


def timed(client: Client, path: str) -> float:
    start = time.perf_counter_ns()
    response = client.get(path)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    assert response.status_code == 200, response.content
    return elapsed


def test_observability_cost(tenant_a, settings):
    settings.ATRIUM_PLAN_RATE_LIMITS = {
        tier: 10**9 for tier in ("free", "starter", "pro", "enterprise")
    }
    with as_user(tenant_a.owner.pk):
        key = services.api_key_create(
            workspace=tenant_a.workspace, name="bench", rate_limit_per_minute=10**6
        )
    endpoint = f"/v1/workspaces/{tenant_a.workspace.pk}"
    credential = f"Bearer {key.raw_key}"
    observed = Client(HTTP_AUTHORIZATION=credential)
    plain = Client(HTTP_AUTHORIZATION=credential)
    without = [name for name in settings.MIDDLEWARE if name != OBSERVABILITY]
    with override_settings(MIDDLEWARE=without):
        timed(plain, endpoint)  # the client keeps the chain it built here

    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    request_logger = logging.getLogger("atrium.request")
    request_logger.addHandler(handler)
    try:
        samples: dict[str, list[float]] = {"plain": [], "observed": []}
        for i in range(WARMUP + ROUNDS):
            a = timed(plain, endpoint)
            b = timed(observed, endpoint)
            if i >= WARMUP:
                samples["plain"].append(a)
                samples["observed"].append(b)
    finally:
        request_logger.removeHandler(handler)
    lines = buffer.getvalue().count('"event": "http_request"')
    assert lines == WARMUP + ROUNDS  # one line per observed request, none else

    base = summary(samples["plain"])
    rows = []
    for label, name in (
        ("without observability", "plain"),
        ("with log line, metrics, counters", "observed"),
    ):
        stats = summary(samples[name])
        rows.append(
            {
                "GET /v1/workspaces/{id} (API key)": label,
                **stats,
                "p50 ratio": round(stats["p50_ms"] / base["p50_ms"], 3),
                "p99 ratio": round(stats["p99_ms"] / base["p99_ms"], 3),
            }
        )
    observed_stats = summary(samples["observed"])
    publish(
        "observability",
        rows,
        [
            f"observability overhead: p50 "
            f"{observed_stats['p50_ms'] - base['p50_ms']:.3f} ms, p99 "
            f"{observed_stats['p99_ms'] - base['p99_ms']:.3f} ms per request",
        ],
    )
