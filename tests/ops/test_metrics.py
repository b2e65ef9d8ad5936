"""/metrics: access, and what it reports after real requests and ingestion."""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from tenancy import ratelimit
from tenancy import services as tenancy_services
from tenancy.context import as_user
from tests.agents.support import stock
from tests.api.conftest import Api
from tests.support.tenants import Tenant, make_user

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-6f1e2d3c4b5a69788796a5b4"
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DOCUMENTS = "v1/workspaces/<uuid:workspace_id>/documents"
SEARCH = "v1/workspaces/<uuid:workspace_id>/search"


@pytest.fixture
def token(settings) -> str:  # type: ignore[no-untyped-def]
    settings.ATRIUM_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(token: str = TOKEN) -> str:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return response.content.decode()


def value(text: str, sample: str, **labels: str) -> float:
    """The sum of ``sample`` over series whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == sample and labels.items() <= found.labels.items():
                total += found.value
    return total


def key_api(tenant: Tenant, scopes: tuple[str, ...] = ("documents:read",)) -> Api:
    with as_user(tenant.owner.pk):
        created = tenancy_services.api_key_create(
            workspace=tenant.workspace, name="m", scopes=list(scopes)
        )
    return Api(created.raw_key)


def test_metrics_answer_only_the_token_or_staff(settings, token: str) -> None:  # type: ignore[no-untyped-def]
    staff = Client()
    staff.force_login(make_user("staff", is_staff=True))
    member = Client()
    member.force_login(make_user("member"))

    assert Client().get("/metrics").status_code == 404
    assert member.get("/metrics").status_code == 404
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-wrong")
    assert wrong.status_code == 401
    assert TOKEN not in wrong.content.decode()
    right = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain")
    assert b"atrium_http_requests_total" in right.content
    assert staff.get("/metrics").status_code == 200

    settings.ATRIUM_METRICS_TOKEN = ""
    unset = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer anything-at-all")
    assert unset.status_code == 401
    assert staff.get("/metrics").status_code == 200


def test_requests_errors_and_latency_are_counted_per_route(
    tenant_a: Tenant, tenant_b: Tenant, token: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    api = key_api(tenant_a, ("documents:read", "search"))
    before = scrape()

    for _ in range(3):
        assert (
            api.get(f"/v1/workspaces/{tenant_a.workspace.pk}/documents").status_code
            == 200
        )
    foreign = api.get(f"/v1/workspaces/{tenant_b.workspace.pk}/documents")
    assert foreign.status_code == 404

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("search backend exploded")

    monkeypatch.setattr("knowledge.api.views.search", broken)
    api.client.raise_request_exception = False
    failed = api.post(f"/v1/workspaces/{tenant_a.workspace.pk}/search", {"query": "x"})
    assert failed.status_code == 500
    after = scrape()

    def delta(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    requests = "atrium_http_requests_total"
    assert delta(requests, route=DOCUMENTS, method="GET", status="200") == 3
    assert delta(requests, route=DOCUMENTS, method="GET", status="404") == 1
    assert delta(requests, route=SEARCH, method="POST", status="500") == 1
    assert delta("atrium_http_errors_total", route=SEARCH, method="POST") == 1
    assert delta("atrium_http_errors_total", route=DOCUMENTS, method="GET") == 0
    latency = "atrium_http_request_duration_seconds"
    assert delta(f"{latency}_count", route=DOCUMENTS, method="GET") == 4
    assert delta(f"{latency}_bucket", route=DOCUMENTS, method="GET", le="+Inf") == 4
    # Routes are patterns: no id ever becomes a label of the HTTP metrics.
    for family in text_string_to_metric_families(after):
        if family.name.startswith("atrium_http"):
            for sample in family.samples:
                assert not UUID_TEXT.search(sample.labels.get("route", ""))


def test_tenant_requests_and_tokens_down_to_the_configured_level(
    settings, tenant_a: Tenant, token: str
) -> None:  # type: ignore[no-untyped-def]
    stock(tenant_a.workspace, {"a.md": "# Alpha\n\nAlpha text about onboarding."})
    api = key_api(tenant_a, ("search",))
    org, ws = str(tenant_a.organization.pk), str(tenant_a.workspace.pk)
    path = f"/v1/workspaces/{ws}/search"
    before = scrape()

    first = api.post(path, {"query": "onboarding", "search_type": "vector"})
    assert first.status_code == 200, first.json()
    settings.ATRIUM_METRICS_TENANT_LABELS = "organization"
    assert (
        api.post(path, {"query": "onboarding", "search_type": "vector"}).status_code
        == 200
    )
    settings.ATRIUM_METRICS_TENANT_LABELS = "off"
    assert (
        api.post(path, {"query": "onboarding", "search_type": "vector"}).status_code
        == 200
    )
    after = scrape()

    def delta(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    requests, tokens = "atrium_tenant_requests_total", "atrium_tenant_tokens_total"
    assert delta(requests, organization=org, workspace=ws, agent="") == 1
    assert delta(requests, organization=org, workspace="", agent="") == 1
    assert delta(requests, organization=org) == 2  # "off" counted nothing
    assert delta(tokens, organization=org, workspace=ws, agent="") > 0
    assert delta(tokens, organization=org, workspace="", agent="") == delta(
        tokens, organization=org, workspace=ws, agent=""
    )


def test_ingestion_stage_durations_are_observed(tenant_a: Tenant, token: str) -> None:
    before = scrape()
    stock(tenant_a.workspace, {"b.md": "# Beta\n\nBeta text."})
    after = scrape()

    sample = "atrium_ingest_stage_duration_seconds_count"
    for stage in ("parsing", "chunking", "embedding"):
        done = value(after, sample, stage=stage, outcome="done")
        assert done - value(before, sample, stage=stage, outcome="done") == 1


def test_queue_depth_is_read_from_the_broker(settings, token: str) -> None:  # type: ignore[no-untyped-def]
    queue = f"ops-depth-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_ROUTES = {
        **settings.CELERY_TASK_ROUTES,
        "tests.ops.never": {"queue": queue},
    }
    client = ratelimit.client()
    client.rpush(queue, "m1", "m2", "m3")
    client.rpush(queue + "\x06\x166", "m4", "m5")  # priority 6 of the same queue
    try:
        text = scrape()
    finally:
        client.delete(queue, queue + "\x06\x166")

    assert value(text, "atrium_celery_queue_depth", queue=queue) == 5
    assert {"default", "ingest", "embed", "graph"} <= {
        sample.labels["queue"]
        for family in text_string_to_metric_families(text)
        if family.name == "atrium_celery_queue_depth"
        for sample in family.samples
    }
