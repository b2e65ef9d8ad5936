"""Plan tiers: their limits (stored, staff-edited) and their Stripe prices.

The rows of ``billing_plans`` are the source of truth; the defaults below are
the design's tiers, used when a row is missing (a fresh test database is
flushed of the seeded rows).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from billing.models import LIMIT_NAMES, Plan
from tenancy.models import Organization, PlanTier

DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "free": {
        "name": "Free",
        "price_monthly_usd": Decimal("0"),
        "max_workspaces": 1,
        "max_documents_per_workspace": 50,
        "max_monthly_requests": 1_000,
        "max_agents_per_workspace": 2,
    },
    "starter": {
        "name": "Starter",
        "price_monthly_usd": Decimal("29"),
        "max_workspaces": 3,
        "max_documents_per_workspace": 500,
        "max_monthly_requests": 10_000,
        "max_agents_per_workspace": 5,
    },
    "pro": {
        "name": "Pro",
        "price_monthly_usd": Decimal("99"),
        "max_workspaces": 10,
        "max_documents_per_workspace": 5_000,
        "max_monthly_requests": 100_000,
        "max_agents_per_workspace": 20,
    },
    "enterprise": {
        "name": "Enterprise",
        "price_monthly_usd": None,
        "max_workspaces": None,
        "max_documents_per_workspace": None,
        "max_monthly_requests": None,
        "max_agents_per_workspace": None,
    },
}

# Ranks tiers so a change can be called an upgrade or a downgrade.
TIER_RANK = {tier: rank for rank, tier in enumerate(PlanTier.values)}


def plan_get(tier: str) -> Plan:
    """The stored plan of ``tier``, or the design's default if none is stored."""
    plan = Plan.objects.filter(tier=tier).first()
    if plan is None:
        plan = Plan(tier=tier, **DEFAULT_PLANS[tier])
    return plan


def price_for(tier: str) -> str:
    """The configured Stripe price of ``tier`` (empty: not sold through Checkout)."""
    return str(settings.ATRIUM_STRIPE_PRICES.get(tier, "") or "")


def tier_for_price(price_id: str) -> str | None:
    """The tier a Stripe price belongs to, by configuration."""
    for tier, configured in settings.ATRIUM_STRIPE_PRICES.items():
        if configured and configured == price_id:
            return str(tier)
    return None


def organization_limits(organization: Organization) -> dict[str, int | None]:
    return {name: getattr(organization, f"max_{name}") for name in LIMIT_NAMES}


def is_lower(new: dict[str, int | None], old: dict[str, int | None]) -> bool:
    """True if any limit in ``new`` is tighter than in ``old`` (None: unlimited)."""
    for name in LIMIT_NAMES:
        before, after = old.get(name), new.get(name)
        if after is not None and (before is None or after < before):
            return True
    return False
