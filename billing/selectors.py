"""Reads of usage and billing state for an organization."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from djstripe.models import Invoice

from billing.models import LIMIT_NAMES, UsageEvent
from billing.plans import plan_get, price_for
from tenancy import quotas
from tenancy.models import Organization, Workspace

_LIVE = Q(is_test=False)
_TOTALS = {
    "requests": Count("id", filter=_LIVE),
    "test_requests": Count("id", filter=Q(is_test=True)),
    "input_tokens": Sum("input_tokens", filter=_LIVE, default=0),
    "output_tokens": Sum("output_tokens", filter=_LIVE, default=0),
    "total_tokens": Sum("total_tokens", filter=_LIVE, default=0),
    "estimated_cost_usd": Sum("estimated_cost_usd", filter=_LIVE, default=0),
    "failed_requests": Count("id", filter=_LIVE & Q(success=False)),
    "avg_latency_ms": Avg("latency_ms", filter=_LIVE),
}


def _shape(row: dict[str, Any]) -> dict[str, Any]:
    latency = row["avg_latency_ms"]
    return {
        **row,
        "estimated_cost_usd": str(row["estimated_cost_usd"]),
        "avg_latency_ms": None if latency is None else round(latency, 1),
    }


def _rows(events: QuerySet[UsageEvent], key: str, *order: Any) -> list[dict[str, Any]]:
    rows = events.values(key).annotate(**_TOTALS).order_by(*(order or (key,)))
    return [_shape(row) for row in rows]


def _tool_rows(events: QuerySet[UsageEvent]) -> list[dict[str, Any]]:
    """Live requests, failures and tokens per tool called.

    Grouped first by the whole list of tools (few distinct lists), then
    split per tool here; a request that called two tools counts for each.
    """
    per_tool: dict[str, dict[str, int]] = {}
    groups = (
        events.filter(_LIVE)
        .values("tools_called")
        .annotate(
            requests=Count("id"),
            failed_requests=Count("id", filter=Q(success=False)),
            total_tokens=Sum("total_tokens", default=0),
        )
    )
    for group in groups:
        for tool in group["tools_called"]:
            row = per_tool.setdefault(
                tool, {"requests": 0, "failed_requests": 0, "total_tokens": 0}
            )
            for name in row:
                row[name] += group[name]
    return [{"tool": tool, **per_tool[tool]} for tool in sorted(per_tool)]


def usage_summary(
    *,
    organization: Organization,
    start: date | None = None,
    end: date | None = None,
    workspace_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
    event_type: str | None = None,
    success: bool | None = None,
    tool: str | None = None,
) -> dict[str, Any]:
    """Usage of ``organization``'s workspaces between two days (inclusive).

    Broken down by day, workspace, agent, event type, outcome and tool
    called. Live usage counts as requests, tokens, failures, latency and
    cost; test-key usage is counted apart (``test_requests``). Without
    dates: the current counting period.
    """
    end = end or timezone.localdate()
    start = start or quotas.period_start(organization).date()
    events = UsageEvent.objects.filter(
        organization_id=organization.pk,
        workspace__organization=organization,
        created_at__date__gte=start,
        created_at__date__lte=end,
    )
    if workspace_id is not None:
        events = events.filter(workspace_id=workspace_id)
    if agent_id is not None:
        events = events.filter(agent_id=agent_id)
    if event_type is not None:
        events = events.filter(event_type=event_type)
    if success is not None:
        events = events.filter(success=success)
    if tool is not None:
        events = events.filter(tools_called__contains=[tool])

    totals = events.aggregate(**_TOTALS)
    names = dict(organization.workspaces.values_list("pk", "name"))
    by_workspace = _rows(events, "workspace_id")
    for row in by_workspace:
        row["workspace_name"] = names.get(row["workspace_id"], "")
    by_day = _rows(events.annotate(day=TruncDate("created_at")), "day")
    return {
        "start": start,
        "end": end,
        "period_start": quotas.period_start(organization),
        "period_end": quotas.period_end(organization),
        "monthly_requests": {
            "live": quotas.monthly_requests_used(organization),
            "test": quotas.monthly_requests_used(organization, is_test=True),
            "limit": quotas.limit_for(organization, "monthly_requests"),
        },
        "totals": _shape(totals),
        "by_day": [{"date": row.pop("day"), **row} for row in by_day],
        "by_workspace": by_workspace,
        "by_agent": _rows(events, "agent_id", F("agent_id").asc(nulls_first=True)),
        "by_event_type": _rows(events, "event_type"),
        "by_success": _rows(events, "success"),
        "by_tool": _tool_rows(events),
    }


def _invoices(organization: Organization) -> list[dict[str, Any]]:
    """The organization's invoices as Stripe last sent them (newest first)."""
    if not organization.stripe_customer_id:
        return []
    invoices = Invoice.objects.filter(
        customer_id=organization.stripe_customer_id
    ).order_by("-created")[:24]
    fields = (
        "id",
        "number",
        "status",
        "currency",
        "amount_due",
        "amount_paid",
        "period_start",
        "period_end",
        "hosted_invoice_url",
    )
    return [
        {
            **{name: invoice.stripe_data.get(name) for name in fields},
            "id": invoice.id,
            "created": invoice.created,
        }
        for invoice in invoices
    ]


def billing_summary(*, organization: Organization) -> dict[str, Any]:
    """Plan, subscription, period, limits, usage against them, invoices, grace."""
    workspaces = list(
        Workspace.objects.filter(
            organization=organization, deleted_at__isnull=True
        ).annotate(agent_count=Count("agents"))
    )
    plan = plan_get(organization.plan_tier)
    limits = {name: quotas.limit_for(organization, name) for name in LIMIT_NAMES}
    monthly = quotas.monthly_requests_used(organization)
    most_documents = max((w.document_count for w in workspaces), default=0)
    most_agents = max((w.agent_count for w in workspaces), default=0)  # type: ignore[attr-defined]
    usage = {
        "workspaces": len(workspaces),
        "monthly_requests": monthly,
        "documents_per_workspace": most_documents,
        "agents_per_workspace": most_agents,
    }
    plan_limits = {name: getattr(organization, f"max_{name}") for name in LIMIT_NAMES}
    over = sorted(
        name
        for name, used in usage.items()
        if plan_limits[name] is not None and used > plan_limits[name]
    )
    grace_active = quotas.in_grace(organization)
    details = _over_limit_details(organization, usage, plan_limits, grace_active)
    return {
        "plan": {
            "tier": organization.plan_tier,
            "name": plan.name,
            "price_monthly_usd": (
                None if plan.price_monthly_usd is None else str(plan.price_monthly_usd)
            ),
            "purchasable": bool(price_for(organization.plan_tier)),
        },
        "plan_tier": organization.plan_tier,
        "subscription_status": organization.subscription_status,
        "has_payment_account": bool(organization.stripe_customer_id),
        "trial_ends_at": organization.trial_ends_at,
        "current_period_start": quotas.period_start(organization),
        "current_period_end": quotas.period_end(organization),
        "custom_limits": organization.custom_limits,
        "limits": {
            **limits,
            "requests_per_minute_per_workspace": quotas.workspace_rate_limit(
                organization
            ),
        },
        "usage": {
            **usage,
            "by_workspace": [
                {
                    "workspace_id": w.pk,
                    "name": w.name,
                    "documents": w.document_count,
                    "agents": w.agent_count,  # type: ignore[attr-defined]
                }
                for w in workspaces
            ],
        },
        "over_limits": over,
        "grace": {
            "active": grace_active,
            "ends_at": organization.grace_ends_at if grace_active else None,
            "limits": organization.grace_limits if grace_active else {},
        },
        "invoices": _invoices(organization),
        "over_limit": bool(details),
        "grace_ends_at": min(
            (d["grace_ends_at"] for d in details if d["grace_ends_at"]), default=None
        ),
        "over_limit_details": details,
    }


def _over_limit_details(
    organization: Organization,
    usage: dict[str, int],
    plan_limits: dict[str, int | None],
    grace_active: bool,
) -> list[dict[str, Any]]:
    """Each limit the organization is past: by how much, and until when served.

    Past its monthly requests, an organization is served until its grace
    ends, then refused (``monthly_request_limit_exceeded``). Past a creation
    limit (after a downgrade), it keeps what it has; creating more is
    refused once the downgrade's grace ends (``plan_limit_exceeded``).
    """
    now = timezone.now()
    details = []
    for name, used in sorted(usage.items()):
        maximum = plan_limits[name]
        if maximum is None or used <= maximum:
            continue
        if name == "monthly_requests":
            ends = quotas.monthly_grace_ends(organization)
        else:
            ends = organization.grace_ends_at if grace_active else None
        details.append(
            {
                "limit": name,
                "used": used,
                "maximum": maximum,
                "grace_ends_at": ends,
                "refused": ends is None or ends <= now,
                "error_code": (
                    "monthly_request_limit_exceeded"
                    if name == "monthly_requests"
                    else "plan_limit_exceeded"
                ),
            }
        )
    return details
