"""Dashboard pages of usage, billing and analytics (templates in billing/).

Each page reads through the selectors the usage and billing endpoints use,
and who may read or act is taken from those endpoints' ``access`` maps: any
member sees the plan; owners and admins see usage, invoices and analytics;
whoever the API lets open Checkout or the portal gets those buttons.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from csp.decorators import csp_update
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.text import slugify

from billing import dashboard_selectors as ds
from billing import selectors, subscriptions
from billing.api.views import (
    CheckoutIn,
    OrganizationBillingView,
    OrganizationCheckoutView,
    OrganizationPortalView,
    OrganizationUsageView,
)
from billing.charts import Chart, Series, stacked_bars, top_series
from billing.forms import UsageRangeForm
from tenancy.api.access import Rule
from tenancy.dashboard import READ, Page, organization_page
from tenancy.errors import AtriumError
from tenancy.models import SubscriptionStatus

_SUMMARY = OrganizationBillingView.access["GET"]
_USAGE = OrganizationUsageView.access["GET"]
_CHECKOUT = OrganizationCheckoutView.access["POST"]
_PORTAL = OrganizationPortalView.access["POST"]

# Checkout and the portal answer the form's POST with a redirect to Stripe;
# browsers check such redirects against the page's form-action directive.
STRIPE_FORM_TARGETS = ["https://checkout.stripe.com", "https://billing.stripe.com"]


def _may(page: Page, rule: Rule | None) -> bool:
    return (
        rule is not None
        and rule.role is not None
        and page.organization_at_least(rule.role)
    )


# --- usage and billing ------------------------------------------------------


@dataclass(frozen=True)
class Meter:
    name: str
    label: str
    used: int
    limit: int | None
    note: str

    @property
    def percent(self) -> int:
        if not self.limit:
            return 0
        return min(100, round(self.used * 100 / self.limit))

    @property
    def level(self) -> str:
        if self.limit is None:
            return ""
        if self.used >= self.limit:
            return "danger"
        if self.used >= self.limit * 0.8:
            return "warning"
        return ""


_METERS = [
    ("monthly_requests", "Requests this period", "Live API and dashboard requests."),
    ("workspaces", "Workspaces", ""),
    (
        "documents_per_workspace",
        "Documents per workspace",
        "The fullest workspace counts.",
    ),
    ("agents_per_workspace", "Agents per workspace", "The busiest workspace counts."),
]

_STATUS_BADGE: dict[str, str] = {
    SubscriptionStatus.ACTIVE: "success",
    SubscriptionStatus.TRIALING: "info",
    SubscriptionStatus.PAST_DUE: "warning",
    SubscriptionStatus.PAUSED: "warning",
    SubscriptionStatus.CANCELED: "danger",
}


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _limit(value: Any) -> int | None:
    return None if value is None else _int(value)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except ArithmeticError:
        return None


def _when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _invoice(raw: dict[str, Any]) -> dict[str, Any]:
    paid = raw.get("status") == "paid"
    cents = _int(raw.get("amount_paid") if paid else raw.get("amount_due"))
    url = str(raw.get("hosted_invoice_url") or "")
    return {
        "number": raw.get("number") or raw.get("id") or "",
        "created": _when(raw.get("created")),
        "status": str(raw.get("status") or "unknown"),
        "amount": Decimal(cents) / 100,
        "currency": str(raw.get("currency") or "usd").upper(),
        "url": url if url.startswith("https://") else "",
    }


def _grace(summary: dict[str, Any]) -> dict[str, Any]:
    """Whether the organization is over its plan, read from either shape.

    The summary reports ``grace`` (``active``, ``ends_at``) and
    ``over_limits``; flatter keys (``grace_ends_at``, ``over_limit``) are read
    too, so the page keeps warning if the summary's shape changes.
    """
    grace = summary.get("grace")
    grace = grace if isinstance(grace, dict) else {}
    ends = _when(grace.get("ends_at")) or _when(summary.get("grace_ends_at"))
    over = summary.get("over_limits", summary.get("over_limit")) or []
    if isinstance(over, bool):
        over = ["limits"] if over else []
    labels = dict((name, label) for name, label, _ in _METERS)
    return {
        "active": bool(grace.get("active")) or ends is not None,
        "ends_at": ends,
        "over": [labels.get(str(name), str(name)) for name in over],
    }


def _billing_context(summary: dict[str, Any]) -> dict[str, Any]:
    plan, usage, limits = (
        _mapping(summary.get(k)) for k in ("plan", "usage", "limits")
    )
    status = str(summary.get("subscription_status") or "")
    return {
        "plan_name": plan.get("name") or str(summary.get("plan_tier", "")).title(),
        "plan_tier": plan.get("tier") or summary.get("plan_tier") or "",
        "plan_price": _decimal(plan.get("price_monthly_usd")),
        "status": status,
        "status_label": SubscriptionStatus(status).label
        if status in SubscriptionStatus.values
        else status.replace("_", " ").capitalize(),
        "status_badge": _STATUS_BADGE.get(status, "info"),
        "trial_ends_at": _when(summary.get("trial_ends_at")),
        "period_start": _when(summary.get("current_period_start")),
        "period_end": _when(summary.get("current_period_end")),
        "has_payment_account": bool(summary.get("has_payment_account")),
        "custom_limits": bool(summary.get("custom_limits")),
        "rate_limit": _limit(limits.get("requests_per_minute_per_workspace")),
        "meters": [
            Meter(name, label, _int(usage.get(name)), _limit(limits.get(name)), note)
            for name, label, note in _METERS
        ],
        "workspaces": [
            {
                "name": row.get("name", ""),
                "documents": _int(row.get("documents")),
                "agents": _int(row.get("agents")),
            }
            for row in usage.get("by_workspace") or []
            if isinstance(row, dict)
        ],
        "grace": _grace(summary),
        "invoices": [
            _invoice(raw)
            for raw in summary.get("invoices") or []
            if isinstance(raw, dict)
        ],
    }


@csp_update({"form-action": STRIPE_FORM_TARGETS})
@organization_page({"GET": READ})
def billing(request: HttpRequest, page: Page) -> HttpResponse:
    """Plan, usage against its limits, upgrades, payment and invoices."""
    organization = page.organization
    context: dict[str, Any] = {
        "nav": "billing",
        "can_see_usage": _may(page, _SUMMARY),
        "can_checkout": _may(page, _CHECKOUT),
        "can_portal": _may(page, _PORTAL),
        "offers": ds.plan_offers(organization=organization),
    }
    if context["can_see_usage"]:
        context.update(
            _billing_context(selectors.billing_summary(organization=organization))
        )
    else:
        context.update(
            plan_name=organization.get_plan_tier_display(),
            plan_tier=organization.plan_tier,
            status_label=organization.get_subscription_status_display(),
            status_badge=_STATUS_BADGE.get(organization.subscription_status, "info"),
        )
    context["subscribed"] = bool(
        organization.stripe_subscription_id and organization.plan_tier != "free"
    )
    return render(request, "billing/billing.html", context)


def _to_stripe(
    request: HttpRequest, page: Page, start: Callable[[], subscriptions.RedirectSession]
) -> HttpResponse:
    try:
        session = start()
    except AtriumError as error:
        messages.error(request, error.message)
        return redirect("app:billing", page.organization.pk)
    # 303: the browser follows with a GET, whatever the form's method was.
    response = HttpResponse(status=303)
    response["Location"] = session.url
    return response


@organization_page({"POST": _CHECKOUT})
def billing_checkout(request: HttpRequest, page: Page) -> HttpResponse:
    """Send the browser to Stripe Checkout for the chosen plan."""
    data = CheckoutIn(data={"plan": request.POST.get("plan", "")})
    if not data.is_valid():
        messages.error(request, "Choose a plan to upgrade to.")
        return redirect("app:billing", page.organization.pk)
    plan = data.validated_data["plan"]
    return _to_stripe(
        request,
        page,
        lambda: subscriptions.checkout_session_create(
            organization=page.organization, plan_tier=plan
        ),
    )


@organization_page({"POST": _PORTAL})
def billing_portal(request: HttpRequest, page: Page) -> HttpResponse:
    """Send the browser to Stripe's customer portal."""
    return _to_stripe(
        request,
        page,
        lambda: subscriptions.portal_session_create(organization=page.organization),
    )


# --- analytics ----------------------------------------------------------------


def _agent_label(labels: ds.UsageLabels, agent_id: uuid.UUID | None) -> str:
    if agent_id is None:
        return "No agent (search, ingestion)"
    return labels.agents.get(agent_id, "Deleted agent")


def _workspace_label(labels: ds.UsageLabels, workspace_id: uuid.UUID) -> str:
    return labels.workspaces.get(workspace_id, "Deleted workspace")


def _charts(
    rows: list[ds.UsageRow], labels: ds.UsageLabels, days: list[date], by: str
) -> list[Chart]:
    index = {day: n for n, day in enumerate(days)}

    def key_of(row: ds.UsageRow) -> tuple[str, str]:
        if by == "agent":
            return str(row.agent_id), _agent_label(labels, row.agent_id)
        return str(row.workspace_id), _workspace_label(labels, row.workspace_id)

    # One order (and so one colour each) for all charts: busiest first.
    weight: dict[str, tuple[int, int, str]] = {}
    for row in rows:
        key, label = key_of(row)
        requests, tokens, _ = weight.get(key, (0, 0, label))
        weight[key] = (requests + row.requests, tokens + row.total_tokens, label)
    order = sorted(weight, key=lambda k: (-weight[k][0], -weight[k][1], weight[k][2]))

    def series(measure: str) -> list[Series]:
        named: dict[str, tuple[str, list[float]]] = {}
        for row in rows:
            key, label = key_of(row)
            _, values = named.setdefault(key, (label, [0.0] * len(days)))
            values[index[row.day]] += float(getattr(row, measure))
        return top_series(named, order)

    return [
        stacked_bars(
            chart_id="chart-requests",
            title="Requests per day",
            measure="requests",
            breakdown=by,
            days=days,
            series=series("requests"),
        ),
        stacked_bars(
            chart_id="chart-tokens",
            title="Model tokens per day",
            measure="model tokens",
            breakdown=by,
            days=days,
            series=series("total_tokens"),
        ),
        stacked_bars(
            chart_id="chart-cost",
            title="Estimated cost per day (USD)",
            measure="estimated cost",
            breakdown=by,
            days=days,
            series=series("estimated_cost_usd"),
            unit="usd",
        ),
    ]


@organization_page({"GET": READ})
def analytics(request: HttpRequest, page: Page) -> HttpResponse:
    """Requests, tokens and cost per day, as charts and as tables."""
    organization = page.organization
    form = UsageRangeForm(request.GET)
    context: dict[str, Any] = {
        "nav": "analytics",
        "form": form,
        "can_see_usage": _may(page, _USAGE),
    }
    if not context["can_see_usage"]:
        return render(request, "billing/analytics.html", context)
    if not form.is_valid():
        return render(request, "billing/analytics.html", context, status=400)

    start, end = form.span()
    by = form.cleaned_data["by"]
    summary = selectors.usage_summary(organization=organization, start=start, end=end)
    labels = ds.usage_labels(organization=organization)
    rows = ds.usage_rows(organization=organization, start=start, end=end)
    today = timezone.localdate()
    spans = [
        (f"Last {days} days", today - timedelta(days=days - 1), today)
        for days in (7, 30, 90)
    ]
    spans.append(("This billing period", summary["period_start"].date(), today))
    context.update(
        presets=[
            {
                "label": label,
                "query": urlencode({"start": first, "end": last, "by": by}),
                "current": (first, last) == (start, end),
            }
            for label, first, last in spans
        ],
        start=start,
        end=end,
        by=by,
        totals=summary["totals"],
        charts=_charts(rows, labels, ds.days_between(start, end), by),
        by_day=summary["by_day"],
        by_workspace=summary["by_workspace"],
        by_agent=[
            {**row, "label": _agent_label(labels, row["agent_id"])}
            for row in summary["by_agent"]
        ],
        query=request.GET.urlencode(),
    )
    return render(request, "billing/analytics.html", context)


_CSV_COLUMNS = [
    "date",
    "workspace_id",
    "workspace",
    "agent_id",
    "agent",
    "requests",
    "test_requests",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "estimated_cost_usd",
    "failed_requests",
    "avg_latency_ms",
]


def _cell(value: str) -> str:
    # A name starting with a formula character would run as a formula in a
    # spreadsheet; a leading quote keeps it text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@organization_page({"GET": _USAGE})
def analytics_csv(request: HttpRequest, page: Page) -> HttpResponse:
    """Usage per day, workspace and agent as CSV, the finest grain stored."""
    organization = page.organization
    form = UsageRangeForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(
            f"{name}: {' '.join(str(m) for m in problems)}"
            for name, problems in form.errors.items()
        )
        return HttpResponse(
            errors, status=400, content_type="text/plain; charset=utf-8"
        )

    start, end = form.span()
    labels = ds.usage_labels(organization=organization)
    name = slugify(organization.name) or "organization"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="atrium-usage-{name}-{start}-{end}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(_CSV_COLUMNS)
    for row in ds.usage_rows(organization=organization, start=start, end=end):
        writer.writerow(
            [
                row.day.isoformat(),
                row.workspace_id,
                _cell(_workspace_label(labels, row.workspace_id)),
                row.agent_id or "",
                _cell(_agent_label(labels, row.agent_id)),
                row.requests,
                row.test_requests,
                row.input_tokens,
                row.output_tokens,
                row.total_tokens,
                row.estimated_cost_usd,
                row.failed_requests,
                "" if row.avg_latency_ms is None else row.avg_latency_ms,
            ]
        )
    return response
