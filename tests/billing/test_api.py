"""The billing endpoints: usage, billing, Checkout and the portal.

Personas come from tests/api/conftest.py's world: organization A with people
in every role, and B, the outsider.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenancy.context import as_user, as_workspace
from tenancy.models import Organization
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("GET", "usage"),
    ("GET", "billing"),
    ("POST", "billing/checkout"),
    ("POST", "billing/portal"),
]


def _url(org, suffix: str) -> str:
    return f"/v1/organizations/{org.pk}/{suffix}"


def _call(api, method, url):
    body = {"plan": "pro"} if url.endswith("checkout") else {}
    if method == "GET":
        body = None
    return api.call(method, url, body)


@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
@pytest.mark.parametrize("persona", ["outsider", "key_b", "newcomer", "anonymous"])
def test_another_organization_is_not_found(world: World, persona, method, suffix):
    response = _call(world.api(persona), method, _url(world.org_a, suffix))

    expected = 401 if persona == "anonymous" else 404
    assert response.status_code == expected
    if expected == 404:
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("method", "suffix"), ENDPOINTS)
def test_a_malformed_or_unknown_organization_id_is_not_found(world, method, suffix):
    api = world.api("owner")
    unknown = "/v1/organizations/4f0f1b6e-9c1a-4d5e-8b7a-0123456789ab/" + suffix

    assert _call(api, method, unknown).status_code == 404
    assert _call(api, method, f"/v1/organizations/nope/{suffix}").status_code == 404


@pytest.mark.parametrize(
    ("persona", "suffix", "status"),
    [
        ("org_admin", "usage", 200),
        ("org_admin", "billing", 200),
        ("org_member", "usage", 403),
        ("ws_admin", "billing", 403),
        ("org_admin", "billing/checkout", 403),
        ("org_admin", "billing/portal", 403),
        ("org_member", "billing/portal", 403),
        ("key_all", "billing/checkout", 403),
    ],
)
def test_roles(world, persona, suffix, status):
    method = "GET" if suffix in ("usage", "billing") else "POST"
    response = _call(world.api(persona), method, _url(world.org_a, suffix))
    assert response.status_code == status


def test_usage_breaks_down_by_day_workspace_agent_and_type(world, record):
    agent = world.agents["a1"]
    with as_workspace(world.a1.pk):
        for tokens in (10, 20):
            record(
                workspace=world.a1,
                event_type="chat",
                input_tokens=tokens,
                output_tokens=5,
                agent_id=agent.pk,
                model_name="gpt-4o-mini",
            )
        record(workspace=world.a1, event_type="search", is_test=True)
    with as_workspace(world.a2.pk):
        record(workspace=world.a2, event_type="ingest", input_tokens=100)
    with as_workspace(world.b1.pk):
        record(workspace=world.b1, event_type="chat", input_tokens=999)

    body = world.api("owner").get(_url(world.org_a, "usage")).json()

    assert body["totals"]["requests"] == 3 and body["totals"]["test_requests"] == 1
    assert body["totals"]["input_tokens"] == 130
    assert body["totals"]["total_tokens"] == 140
    by_ws = {row["workspace_id"]: row for row in body["by_workspace"]}
    assert by_ws[str(world.a1.pk)]["requests"] == 2
    assert by_ws[str(world.a2.pk)]["input_tokens"] == 100
    assert str(world.b1.pk) not in by_ws
    by_agent = {row["agent_id"]: row["requests"] for row in body["by_agent"]}
    assert by_agent == {str(agent.pk): 2, None: 1}
    by_type = {row["event_type"]: row for row in body["by_event_type"]}
    assert by_type["chat"]["requests"] == 2 and by_type["search"]["test_requests"] == 1
    assert [row["requests"] for row in body["by_day"]] == [3]
    assert body["by_day"][0]["date"] == timezone.localdate().isoformat()
    assert float(body["totals"]["estimated_cost_usd"]) > 0


def test_usage_groups_and_filters_by_outcome_tool_and_latency(world, record):
    with as_workspace(world.a1.pk):
        record(
            workspace=world.a1,
            event_type="chat",
            input_tokens=10,
            tools_called=["hybrid_search", "get_document"],
            latency_ms=100,
        )
        record(
            workspace=world.a1,
            event_type="chat",
            input_tokens=20,
            tools_called=["hybrid_search"],
            latency_ms=300,
            success=False,
            error_code="step_limit_reached",
        )
        record(workspace=world.a1, event_type="search", latency_ms=20)
    api = world.api("owner")
    url = _url(world.org_a, "usage")

    body = api.get(url).json()
    failed = api.get(url + "?success=false").json()
    searched = api.get(url + "?tool=get_document").json()

    assert body["totals"]["failed_requests"] == 1
    assert body["totals"]["avg_latency_ms"] == 140.0
    by_tool = {row["tool"]: row for row in body["by_tool"]}
    assert by_tool["hybrid_search"] == {
        "tool": "hybrid_search",
        "requests": 2,
        "failed_requests": 1,
        "total_tokens": 30,
    }
    assert by_tool["get_document"]["requests"] == 1
    by_success = {row["success"]: row["requests"] for row in body["by_success"]}
    assert by_success == {True: 2, False: 1}
    assert failed["totals"]["requests"] == 1
    assert failed["totals"]["input_tokens"] == 20
    assert searched["totals"]["requests"] == 1
    assert api.get(url + "?tool=Bad-Name").status_code == 400


def test_usage_filters_and_date_range(world, record):
    with as_workspace(world.a1.pk):
        record(workspace=world.a1, event_type="chat", input_tokens=1)
        record(workspace=world.a1, event_type="search", input_tokens=2)
    api = world.api("owner")
    today = timezone.localdate()

    chat = api.get(_url(world.org_a, "usage") + "?event_type=chat").json()
    a2 = api.get(_url(world.org_a, "usage") + f"?workspace={world.a2.pk}").json()
    past = api.get(
        _url(world.org_a, "usage")
        + f"?start={today - timedelta(days=9)}&end={today - timedelta(days=2)}"
    ).json()

    assert chat["totals"]["input_tokens"] == 1
    assert a2["totals"]["requests"] == 0
    assert past["totals"]["requests"] == 0 and past["by_day"] == []


@pytest.mark.parametrize(
    "query",
    [
        "?start=2026-02-01&end=2026-01-01",
        "?start=2024-01-01&end=2026-01-01",
        "?start=yesterday",
        "?event_type=dance",
        "?workspace=nope",
        "?colour=blue",
    ],
)
def test_bad_usage_queries_are_refused(world, query):
    response = world.api("owner").get(_url(world.org_a, "usage") + query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_foreign_workspace_filter_is_not_found(world):
    response = world.api("owner").get(
        _url(world.org_a, "usage") + f"?workspace={world.b1.pk}"
    )
    assert response.status_code == 404


def test_billing_shows_plan_limits_usage_and_grace(world):
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(
            plan_tier="free",
            max_workspaces=1,
            grace_ends_at=timezone.now() + timedelta(days=3),
            grace_limits={"workspaces": 10},
        )

    body = world.api("owner").get(_url(world.org_a, "billing")).json()

    assert body["plan"]["tier"] == "free" and body["plan"]["name"] == "Free"
    assert body["usage"]["workspaces"] == 2
    assert body["usage"]["agents_per_workspace"] == 1
    assert body["over_limits"] == ["workspaces"]
    assert body["grace"]["active"] is True
    assert body["grace"]["limits"] == {"workspaces": 10}
    assert body["limits"]["workspaces"] == 10  # the previous limit, during grace
    assert body["invoices"] == []
