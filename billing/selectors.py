"""Reads of usage and billing state for an organization."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from billing.models import UsageEvent
from tenancy import quotas
from tenancy.models import Organization


def usage_summary(
    *, organization: Organization, start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """Requests and tokens of ``organization``'s workspaces, by day and type."""
    events = UsageEvent.objects.filter(
        organization_id=organization.pk,
        workspace__organization=organization,
    )
    if start is not None:
        events = events.filter(created_at__date__gte=start)
    if end is not None:
        events = events.filter(created_at__date__lte=end)

    by_day = (
        events.annotate(day=TruncDate("created_at"))
        .values("day", "event_type", "is_test")
        .annotate(
            requests=Count("id"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("estimated_cost_usd"),
        )
        .order_by("day", "event_type", "is_test")
    )
    return {
        "period_start": quotas.period_start(organization),
        "monthly_requests": {
            "live": quotas.monthly_requests_used(organization),
            "test": quotas.monthly_requests_used(organization, is_test=True),
            "limit": organization.max_monthly_requests,
        },
        "days": [
            {
                "date": row["day"],
                "event_type": row["event_type"],
                "is_test": row["is_test"],
                "requests": row["requests"],
                "input_tokens": row["input_tokens"] or 0,
                "output_tokens": row["output_tokens"] or 0,
                "estimated_cost_usd": str(row["cost"] or 0),
            }
            for row in by_day
        ],
    }


def billing_summary(*, organization: Organization) -> dict[str, Any]:
    """Plan, subscription, period, limits and usage against them."""
    workspaces = organization.workspaces.filter(deleted_at__isnull=True)
    return {
        "plan_tier": organization.plan_tier,
        "subscription_status": organization.subscription_status,
        "trial_ends_at": organization.trial_ends_at,
        "current_period_start": quotas.period_start(organization),
        "current_period_end": organization.current_period_end,
        "limits": {
            "workspaces": organization.max_workspaces,
            "documents_per_workspace": organization.max_documents_per_workspace,
            "monthly_requests": organization.max_monthly_requests,
            "agents_per_workspace": organization.max_agents_per_workspace,
            "requests_per_minute_per_workspace": quotas.workspace_rate_limit(
                organization
            ),
        },
        "usage": {
            "workspaces": workspaces.count(),
            "monthly_requests": quotas.monthly_requests_used(organization),
            "documents_per_workspace": {
                str(w.pk): w.document_count for w in workspaces.only("document_count")
            },
        },
        "invoices": [],
    }
