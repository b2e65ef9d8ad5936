"""The analytics page and its CSV: the usage API's figures, drawn and listed."""

# Fixtures imported from other conftest modules are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.models import UsageEvent
from tenancy.context import as_user, as_workspace
from tests.api.conftest import world  # noqa: F401  (fixture)
from tests.billing.conftest import _empty_usage_buffer, record  # noqa: F401
from tests.dashboard.test_settings_support import (
    ORGANIZATION_PERSONAS,
    browser,
    html,
    strict_templates,  # noqa: F401  (fixture)
)
from tests.support.tenants import add_agent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]


def _url(organization, suffix: str = "analytics/") -> str:
    return f"/app/organizations/{organization.pk}/{suffix}"


def _at(event: UsageEvent, workspace, days_ago: int) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    with as_workspace(workspace.pk):
        UsageEvent.objects.filter(pk=event.pk).update(created_at=when)


@pytest.fixture
def usage(world, record):
    """Usage in A's two workspaces over three days, and some in B."""
    helper = world.agents["a1"]
    second = add_agent(world.a1, "writer")
    with as_workspace(world.a1.pk):
        for days_ago, tokens in ((0, 100), (0, 40), (2, 7), (5, 1000)):
            event = record(
                workspace=world.a1,
                event_type="chat",
                input_tokens=tokens,
                output_tokens=tokens // 2,
                agent_id=helper.pk,
                model_name="gpt-4o-mini",
            )
            _at(event, world.a1, days_ago)
        event = record(
            workspace=world.a1,
            event_type="chat",
            input_tokens=300,
            output_tokens=20,
            agent_id=second.pk,
            model_name="gpt-4o",
        )
        _at(event, world.a1, 2)
        record(workspace=world.a1, event_type="search", is_test=True)
        record(
            workspace=world.a1,
            event_type="chat",
            input_tokens=9,
            agent_id=helper.pk,
            latency_ms=1200,
            success=False,
        )
    with as_workspace(world.a2.pk):
        event = record(workspace=world.a2, event_type="ingest", input_tokens=2500)
        _at(event, world.a2, 5)
    with as_workspace(world.b1.pk):
        record(
            workspace=world.b1,
            event_type="chat",
            input_tokens=777_777,
            agent_id=world.agents["b1"].pk,
        )
    return {"second": second}


def _range(days: int = 6) -> str:
    today = timezone.localdate()
    return f"?start={today - timedelta(days=days)}&end={today}"


@pytest.mark.parametrize(("persona", "role"), ORGANIZATION_PERSONAS.items())
def test_owners_and_admins_see_analytics_and_others_a_note(world, usage, persona, role):
    client = browser(world, persona)
    response = client.get(_url(world.org_a) + _range())
    page = html(response)
    download = client.get(_url(world.org_a, "analytics/usage.csv") + _range())

    if role in ("owner", "admin"):
        assert response.status_code == 200 and download.status_code == 200
        assert page.count('role="img"') == 9  # three charts, three drawings each
        assert "Download CSV" in page and "Writer" in page
    else:
        assert response.status_code == 200 and download.status_code == 403
        assert "shown to owners and admins" in page
        assert 'role="img"' not in page and "Download CSV" not in page


@pytest.mark.parametrize("persona", ["outsider", "newcomer"])
def test_people_outside_the_organization_get_404(world, persona):
    client = browser(world, persona)

    assert client.get(_url(world.org_a)).status_code == 404
    assert client.get(_url(world.org_a, "analytics/usage.csv")).status_code == 404


def test_another_organizations_analytics_are_404_even_for_an_owner(world):
    client = browser(world, "owner")

    assert client.get(_url(world.org_b)).status_code == 404
    assert client.get(_url(world.org_b, "analytics/usage.csv")).status_code == 404


def test_the_csv_adds_up_to_the_events_and_to_the_usage_api(world, usage):
    client = browser(world, "owner")

    response = client.get(_url(world.org_a, "analytics/usage.csv") + _range())

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="atrium-usage-org-a-')
    assert disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {row["workspace_id"] for row in rows} == {str(world.a1.pk), str(world.a2.pk)}
    with as_user(world.users["owner"].pk):
        events = UsageEvent.objects.filter(organization_id=world.org_a.pk).aggregate(
            requests=Count("id", filter=Q(is_test=False)),
            test_requests=Count("id", filter=Q(is_test=True)),
            input_tokens=Sum("input_tokens", filter=Q(is_test=False)),
            output_tokens=Sum("output_tokens", filter=Q(is_test=False)),
            total_tokens=Sum("total_tokens", filter=Q(is_test=False)),
            estimated_cost_usd=Sum("estimated_cost_usd", filter=Q(is_test=False)),
            failed_requests=Count("id", filter=Q(is_test=False, success=False)),
        )
    api = (
        browser(world, "owner")
        .get(f"/v1/organizations/{world.org_a.pk}/usage{_range()}")
        .json()["totals"]
    )
    columns = ("requests", "test_requests", "input_tokens", "output_tokens")
    for column in (*columns, "failed_requests"):
        summed = sum(int(row[column]) for row in rows)
        assert summed == events[column] == api[column], column
    assert sum(int(row["total_tokens"]) for row in rows) == events["total_tokens"]
    cost = sum(Decimal(row["estimated_cost_usd"]) for row in rows)
    assert cost == events["estimated_cost_usd"] == Decimal(api["estimated_cost_usd"])
    assert cost > 0 and events["failed_requests"] == 1
    assert "1200.0" in {row["avg_latency_ms"] for row in rows}
    assert len({row["date"] for row in rows}) == 3
    writer = [row for row in rows if row["agent_id"] == str(usage["second"].pk)]
    assert [row["agent"] for row in writer] == ["Writer (Workspace A)"]
    assert "777777" not in response.content.decode()


def test_the_tables_show_the_usage_apis_figures(world, usage):
    page = html(browser(world, "org_admin").get(_url(world.org_a) + _range()))
    api = (
        browser(world, "owner")
        .get(f"/v1/organizations/{world.org_a.pk}/usage{_range()}")
        .json()
    )

    assert f"{api['totals']['requests']:,}" in page
    assert f"{api['totals']['total_tokens']:,}" in page
    for row in api["by_workspace"]:
        assert f">{row['input_tokens']:,}<" in page
    assert "No agent (search, ingestion)" in page
    assert page.count("<time datetime=") >= len(api["by_day"]) == 3
    assert "777,777" not in page


def test_charts_break_down_by_agent_and_describe_themselves(world, usage):
    page = html(browser(world, "owner").get(_url(world.org_a) + _range() + "&by=agent"))

    requests = page[page.index('id="chart-requests-wide-desc"') :]
    requests = requests[: requests.index("</desc>")]
    assert "stacked by agent" in requests and "Total 7" in requests
    assert "Helper (Workspace A) 5" in requests and "Writer (Workspace A) 1" in requests
    assert 'class="legend__swatch chart-series-0"' in page
    assert '<rect class="chart-series-0"' in page
    assert "No usage in this period" not in page


def test_a_period_without_usage_draws_empty_charts(world):
    page = html(browser(world, "owner").get(_url(world.org_a)))

    assert page.count('role="img"') == 9
    assert page.count("No usage in this period") == 9
    assert '<rect class="chart-series' not in page
    assert "Requests per day from" in page and ": none." in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?start=2026-02-01&end=2026-01-01", "Must not be before the start."),
        ("?start=2024-01-01&end=2026-01-01", "at most 366 days"),
        ("?start=yesterday", "Enter a valid date."),
        ("?by=colour", "Select a valid choice."),
    ],
)
def test_bad_ranges_are_refused_with_the_reason(world, query, message):
    client = browser(world, "owner")

    page = client.get(_url(world.org_a) + query)
    download = client.get(_url(world.org_a, "analytics/usage.csv") + query)

    assert page.status_code == 400 and message in html(page)
    assert download.status_code == 400 and message in download.content.decode()
