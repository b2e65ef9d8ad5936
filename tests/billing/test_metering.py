"""Usage events and the daily summaries built from them."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from billing import services, tasks
from billing.models import DailyUsageSummary, UsageEvent
from billing.pricing import estimate_cost
from billing.services import usage_events_flush, usage_record, usage_summary_build
from tenancy import ratelimit
from tenancy.context import Principal, as_principal, as_user, as_workspace
from tenancy.models import Workspace
from tests.support.tenants import add_workspace

pytestmark = pytest.mark.django_db


def _events(record, workspace, rng, day_offset=0, count=40):
    """Random events of one day, written with their real created_at moved back."""
    made = []
    with as_workspace(workspace.pk):
        for _ in range(count):
            made.append(
                record(
                    workspace=workspace,
                    event_type=rng.choice(["chat", "search", "ingest"]),
                    input_tokens=rng.randint(0, 5000),
                    output_tokens=rng.randint(0, 900),
                    model_name=rng.choice(["gpt-4o-mini", "claude-sonnet-4", "local"]),
                    is_test=rng.random() < 0.2,
                    success=rng.random() < 0.85,
                    latency_ms=rng.randint(1, 3000),
                )
            )
        if day_offset:
            UsageEvent.objects.filter(pk__in=[e.pk for e in made]).update(
                created_at=timezone.now() - timedelta(days=day_offset)
            )
    return made


def test_usage_record_fills_the_event(tenant_a, record):
    with as_workspace(tenant_a.workspace.pk):
        event = record(
            workspace=tenant_a.workspace,
            event_type="chat",
            input_tokens=1200,
            output_tokens=300,
            model_name="gpt-4o-mini-2024-07-18",
        )
    assert event.organization_id == tenant_a.organization.pk
    assert event.total_tokens == 1500
    assert event.estimated_cost_usd == Decimal("0.000360")


@pytest.mark.parametrize(
    "fields",
    [
        {"event_type": "dance"},
        {"event_type": "chat", "input_tokens": -1},
    ],
)
def test_bad_usage_is_refused(tenant_a, fields):
    with as_workspace(tenant_a.workspace.pk), pytest.raises(ValueError):
        usage_record(workspace=tenant_a.workspace, **fields)


def test_usage_cannot_be_recorded_into_another_workspace(tenant_a, tenant_b):
    with pytest.raises(PermissionError), as_workspace(tenant_a.workspace.pk):
        usage_record(workspace=tenant_b.workspace, event_type="chat")


def test_cost_estimates():
    assert estimate_cost("unknown-model", 10**6, 10**6) == 0
    assert estimate_cost("gpt-4o", 10**6, 0) == Decimal("2.50")
    # The longest matching family wins: gpt-4o-mini is not priced as gpt-4o.
    assert estimate_cost("gpt-4o-mini", 10**6, 0) == Decimal("0.15")


def test_summaries_equal_the_summed_events(tenant_a, record):
    rng = random.Random(6)
    second = add_workspace(tenant_a, "Second")
    today = timezone.localdate()
    events = {
        (tenant_a.workspace.pk, today): _events(record, tenant_a.workspace, rng),
        (tenant_a.workspace.pk, today - timedelta(days=1)): _events(
            record, tenant_a.workspace, rng, day_offset=1
        ),
        (second.pk, today): _events(record, second, rng),
    }

    tasks.usage_summaries_build()

    for (workspace_id, day), made in events.items():
        live = [e for e in made if not e.is_test]
        with as_workspace(workspace_id):
            summary = DailyUsageSummary.objects.get(workspace_id=workspace_id, date=day)
        assert summary.total_requests == len(live)
        assert summary.test_requests == len(made) - len(live)
        assert summary.failed_requests == sum(not e.success for e in live)
        assert summary.chat_requests == sum(e.event_type == "chat" for e in live)
        assert summary.search_requests == sum(e.event_type == "search" for e in live)
        assert summary.ingest_requests == sum(e.event_type == "ingest" for e in live)
        assert summary.input_tokens == sum(e.input_tokens for e in live)
        assert summary.output_tokens == sum(e.output_tokens for e in live)
        assert summary.total_tokens == sum(e.total_tokens for e in live)
        assert summary.estimated_cost_usd == sum(e.estimated_cost_usd for e in live)
        assert summary.organization_id == tenant_a.organization.pk


def test_rebuilding_a_day_is_safe_and_follows_late_events(tenant_a, record):
    rng = random.Random(7)
    _events(record, tenant_a.workspace, rng, day_offset=3, count=10)
    day = (timezone.now() - timedelta(days=3)).date()
    workspace = tenant_a.workspace

    with as_workspace(workspace.pk):
        first = usage_summary_build(workspace=workspace, day=day)
        again = usage_summary_build(workspace=workspace, day=day)
        assert DailyUsageSummary.objects.filter(workspace=workspace).count() == 1
    assert first is not None and again is not None
    assert (again.pk, again.total_tokens, again.total_requests) == (
        first.pk,
        first.total_tokens,
        first.total_requests,
    )

    late = _events(record, workspace, rng, day_offset=3, count=1)[0]
    tasks.usage_summaries_build(day=day.isoformat())
    with as_workspace(workspace.pk):
        rebuilt = DailyUsageSummary.objects.get(workspace=workspace, date=day)
    expected = first.total_tokens + (0 if late.is_test else late.total_tokens)
    assert rebuilt.total_tokens == expected


def test_a_day_without_events_has_no_summary(tenant_a, record):
    workspace = tenant_a.workspace
    _events(record, workspace, random.Random(8), count=3)
    today = timezone.localdate()
    with as_workspace(workspace.pk):
        assert usage_summary_build(workspace=workspace, day=today) is not None
        UsageEvent.objects.filter(workspace=workspace).delete()
        assert usage_summary_build(workspace=workspace, day=today) is None
        assert not DailyUsageSummary.objects.filter(workspace=workspace).exists()


def test_a_request_that_fails_keeps_no_usage(
    tenant_a, django_capture_on_commit_callbacks
):
    principal = Principal(workspace_id=tenant_a.workspace.pk)
    with django_capture_on_commit_callbacks(execute=True):
        # The savepoint stands in for the request's own transaction.
        with pytest.raises(RuntimeError), transaction.atomic(), as_principal(principal):
            usage_record(workspace=tenant_a.workspace, event_type="search")
            raise RuntimeError("the request failed after metering")
    assert usage_events_flush() == 0
    with as_workspace(tenant_a.workspace.pk):
        assert not UsageEvent.objects.filter(workspace=tenant_a.workspace).exists()


def test_the_buffer_is_written_once_and_keeps_the_time_of_use(
    tenant_a, django_capture_on_commit_callbacks
):
    with as_workspace(tenant_a.workspace.pk):
        with django_capture_on_commit_callbacks(execute=True):
            event = usage_record(workspace=tenant_a.workspace, event_type="chat")
        assert not UsageEvent.objects.filter(pk=event.pk).exists()  # buffered
    # A flush that died before trimming leaves the batch for the next one.
    client = ratelimit.client()
    key = services._buffer_key()
    client.rpush(key, client.lindex(key, 0))

    assert usage_events_flush() == 2
    assert usage_events_flush() == 0
    with as_workspace(tenant_a.workspace.pk):
        stored = UsageEvent.objects.get(workspace=tenant_a.workspace)
    assert stored.pk == event.pk and stored.created_at == event.created_at


def test_without_redis_the_event_is_written_at_once(
    tenant_a, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(ratelimit, "_down_until", float("inf"))
    with as_workspace(tenant_a.workspace.pk):
        with django_capture_on_commit_callbacks(execute=True):
            event = usage_record(workspace=tenant_a.workspace, event_type="ingest")
        assert UsageEvent.objects.filter(pk=event.pk).exists()


def test_usage_of_a_deleted_workspace_is_dropped_not_stuck(
    tenant_a, django_capture_on_commit_callbacks
):
    with as_workspace(tenant_a.workspace.pk):
        with django_capture_on_commit_callbacks(execute=True):
            usage_record(workspace=tenant_a.workspace, event_type="chat")
    with as_user(tenant_a.owner.pk):
        Workspace.objects.filter(pk=tenant_a.workspace.pk).delete()

    assert usage_events_flush() == 0
    assert usage_events_flush() == 0  # and the buffer is empty
