"""What metering a request with ``billing.services.usage_record`` costs.

Two workspace endpoints, identical except that one records a usage event (as
chat and search do after answering), served in process by Django's test
client against the real PostgreSQL and Redis, with an API key, interleaved
so both see the same conditions. Each request commits, so the INSERT's share
of the commit is counted too.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.test import Client
from django.urls import include, path
from rest_framework.request import Request
from rest_framework.response import Response

from bench.report import publish, summary
from billing.services import usage_record
from tenancy import services
from tenancy.api.access import ANY_KEY, Rule
from tenancy.api.base import WorkspaceAPIView
from tenancy.context import as_user

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 2000
WARMUP = 200


class Plain(WorkspaceAPIView):
    access = {"GET": Rule(role="viewer", scope=ANY_KEY)}

    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        return Response({"id": str(self.workspace.pk), "name": self.workspace.name})


class Metered(Plain):
    def get(self, request: Request, workspace_id: uuid.UUID) -> Response:
        response = super().get(request, workspace_id)
        usage_record(
            workspace=self.workspace,
            event_type="search",
            input_tokens=120,
            output_tokens=0,
            model_name="text-embedding-3-small",
            api_key_id=self.principal.api_key_id,
            is_test=self.principal.is_test_key,
        )
        return response


urlpatterns = [
    path("bench/<uuid:workspace_id>/plain", Plain.as_view()),
    path("bench/<uuid:workspace_id>/metered", Metered.as_view()),
    path("", include("config.urls")),
]


def timed(client: Client, url: str) -> float:
    start = time.perf_counter_ns()
    response = client.get(url)
    elapsed = (time.perf_counter_ns() - start) / 1e6
    assert response.status_code == 200, response.content
    return elapsed


def test_usage_record_cost(tenant_a, settings):
    settings.ROOT_URLCONF = __name__
    settings.ATRIUM_PLAN_RATE_LIMITS = {
        tier: 10**9 for tier in ("free", "starter", "pro", "enterprise")
    }
    with as_user(tenant_a.owner.pk):
        key = services.api_key_create(
            workspace=tenant_a.workspace, name="bench", rate_limit_per_minute=10**6
        )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    base = f"/bench/{tenant_a.workspace.pk}"

    samples: dict[str, list[float]] = {"plain": [], "metered": []}
    for i in range(WARMUP + ROUNDS):
        first, second = ("plain", "metered") if i % 2 else ("metered", "plain")
        a = timed(client, f"{base}/{first}")
        b = timed(client, f"{base}/{second}")
        if i >= WARMUP:
            samples[first].append(a)
            samples[second].append(b)

    plain = summary(samples["plain"])
    rows = []
    for label, name in (
        ("workspace endpoint", "plain"),
        ("same + usage_record", "metered"),
    ):
        stats = summary(samples[name])
        rows.append(
            {
                "request": label,
                **stats,
                "p50 ratio": round(stats["p50_ms"] / plain["p50_ms"], 3),
                "p99 ratio": round(stats["p99_ms"] / plain["p99_ms"], 3),
            }
        )
    metered = summary(samples["metered"])
    publish(
        "usage_record",
        rows,
        [
            f"usage_record adds p50 {metered['p50_ms'] - plain['p50_ms']:.3f} ms,"
            f" p99 {metered['p99_ms'] - plain['p99_ms']:.3f} ms per request",
        ],
    )
