"""Reads the dashboard's usage and billing pages need beyond ``selectors``.

Usage is aggregated with the same totals as ``selectors.usage_summary`` (live
requests, tokens and cost; test-key requests apart), so the dashboard's
charts, tables and CSV add up to exactly what the usage API reports.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models.functions import TruncDate

from billing.models import UsageEvent
from billing.plans import TIER_RANK, plan_get, price_for
from billing.selectors import _TOTALS
from tenancy.models import Organization, PlanTier, Workspace


@dataclass(frozen=True)
class UsageRow:
    """Usage of one workspace (and one agent, or none) on one day."""

    day: date
    workspace_id: uuid.UUID
    agent_id: uuid.UUID | None
    requests: int
    test_requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    estimated_cost_usd: Decimal
    failed_requests: int
    avg_latency_ms: float | None


def usage_rows(*, organization: Organization, start: date, end: date) -> list[UsageRow]:
    """Usage per day, workspace and agent between two days (inclusive)."""
    events = UsageEvent.objects.filter(
        organization_id=organization.pk,
        workspace__organization=organization,
        created_at__date__gte=start,
        created_at__date__lte=end,
    )
    rows = (
        events.annotate(day=TruncDate("created_at"))
        .values("day", "workspace_id", "agent_id")
        .annotate(**_TOTALS)
        .order_by("day", "workspace_id", "agent_id")
    )
    return [
        UsageRow(
            day=row["day"],
            workspace_id=row["workspace_id"],
            agent_id=row["agent_id"],
            requests=row["requests"],
            test_requests=row["test_requests"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            total_tokens=row["total_tokens"],
            estimated_cost_usd=Decimal(row["estimated_cost_usd"]),
            failed_requests=row.get("failed_requests") or 0,
            avg_latency_ms=(
                None
                if row.get("avg_latency_ms") is None
                else round(float(row["avg_latency_ms"]), 1)
            ),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class UsageLabels:
    """Names to show for the ids usage events keep."""

    workspaces: dict[uuid.UUID, str]
    agents: dict[uuid.UUID, str]


def usage_labels(*, organization: Organization) -> UsageLabels:
    """Names of the organization's workspaces and of their agents.

    Deleted workspaces keep their names (their usage still counts); an
    agent's name carries its workspace's when the organization has several.
    """
    workspaces = dict(
        Workspace.objects.filter(organization=organization).values_list("pk", "name")
    )
    # Agents are reached through the workspace's reverse relation: billing
    # cannot import the agents app, which builds on it.
    pairs = Workspace.objects.filter(
        organization=organization, agents__isnull=False
    ).values_list("agents__pk", "agents__name", "name")
    several = len(workspaces) > 1
    agents = {
        agent_id: f"{agent} ({workspace})" if several else str(agent)
        for agent_id, agent, workspace in pairs
    }
    return UsageLabels(workspaces=workspaces, agents=agents)


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


@dataclass(frozen=True)
class PlanOffer:
    tier: str
    name: str
    price_monthly_usd: Decimal | None
    limits: dict[str, int | None]
    purchasable: bool
    is_current: bool
    is_upgrade: bool


def plan_offers(*, organization: Organization) -> list[PlanOffer]:
    """Every tier with its price and limits, as an upgrade page lists them."""
    current = TIER_RANK.get(organization.plan_tier, 0)
    offers = []
    for tier in PlanTier.values:
        plan = plan_get(tier)
        offers.append(
            PlanOffer(
                tier=tier,
                name=plan.name,
                price_monthly_usd=plan.price_monthly_usd,
                limits=plan.limits(),
                purchasable=bool(price_for(tier)) and tier != PlanTier.FREE,
                is_current=tier == organization.plan_tier,
                is_upgrade=TIER_RANK[tier] > current,
            )
        )
    return offers
