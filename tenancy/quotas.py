"""Plan limits an organization is held to, counted where they are enforced.

Creation limits (workspaces, agents, documents) are checked by the service
that creates, under a lock on the organization row so two concurrent
requests cannot both take the last slot. Monthly requests are counted in
Redis per organization and billing period; live and test keys are counted
apart and only live requests count against the plan.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions

from tenancy import ratelimit
from tenancy.errors import PlanLimitExceeded
from tenancy.models import Organization

logger = logging.getLogger(__name__)


class MonthlyQuotaExceeded(exceptions.Throttled):
    default_detail = "The organization has used its monthly requests."
    default_code = "monthly_request_limit_exceeded"


def workspace_rate_limit(organization: Organization) -> int:
    """Requests per minute for one workspace of ``organization``."""
    custom = (organization.settings or {}).get("rate_limit_per_minute")
    if isinstance(custom, int) and custom > 0:
        return custom
    return int(settings.ATRIUM_PLAN_RATE_LIMITS[organization.plan_tier])


def period_start(organization: Organization) -> datetime:
    """Start of the window monthly requests are counted in.

    A paid plan counts from the start of the last paid period (moved forward
    by each paid invoice, see ``billing.services``); otherwise the calendar
    month. A new window has a new counter: nothing needs deleting.
    """
    now = timezone.now()
    start = organization.usage_period_start
    if start is not None and start <= now:
        return start
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def in_grace(organization: Organization) -> bool:
    """True while a downgraded organization keeps its previous limits."""
    ends = organization.grace_ends_at
    return ends is not None and timezone.now() < ends


def limit_for(organization: Organization, limit: str) -> int | None:
    """The limit in force: the plan's, or during grace the previous one if higher.

    ``None`` means unlimited.
    """
    maximum: int | None = getattr(organization, f"max_{limit}")
    if not in_grace(organization) or limit not in (organization.grace_limits or {}):
        return maximum
    previous = organization.grace_limits[limit]
    if maximum is None or previous is None:
        return None
    return max(int(previous), maximum)


def _counter_key(organization: Organization, *, is_test: bool) -> str:
    stamp = period_start(organization).strftime("%Y%m%dT%H%M%S")
    kind = "test" if is_test else "live"
    return f"atrium:monthly:{organization.pk}:{stamp}:{kind}"


def _grace_key(organization: Organization) -> str:
    stamp = period_start(organization).strftime("%Y%m%dT%H%M%S")
    return f"atrium:monthly-grace:{organization.pk}:{stamp}"


def monthly_grace_ends(organization: Organization) -> datetime | None:
    """When the grace for passing this period's monthly requests ends, if begun.

    The grace starts the first time a live request passes the limit and
    lasts ``ATRIUM_OVER_LIMIT_GRACE_DAYS``; it is kept in Redis beside the
    counter, so any principal (an API key included) can start it.
    """
    try:
        started = ratelimit.client().get(_grace_key(organization))
    except redis.RedisError:
        return None
    if started is None:
        return None
    days = int(settings.ATRIUM_OVER_LIMIT_GRACE_DAYS)
    return datetime.fromtimestamp(float(started), tz=UTC) + timedelta(days=days)


def _in_monthly_grace(organization: Organization) -> bool:
    """Start (or look up) the over-limit grace; True while it lasts."""
    if int(settings.ATRIUM_OVER_LIMIT_GRACE_DAYS) <= 0:
        return False
    now = timezone.now()
    try:
        first = ratelimit.client().set(
            _grace_key(organization), str(now.timestamp()), nx=True, ex=40 * 86400
        )
    except redis.RedisError:
        return False
    if first:
        logger.warning(
            "organization %s passed its monthly requests; grace of %s days begins",
            organization.pk,
            settings.ATRIUM_OVER_LIMIT_GRACE_DAYS,
        )
    ends = monthly_grace_ends(organization)
    return ends is not None and now < ends


def monthly_request_count(organization: Organization, *, is_test: bool) -> int:
    """Count one request; refuse it if the plan's monthly requests are used up.

    Past the limit, requests go on during a grace period (shown by the
    billing API), then are refused until the period ends. With Redis down
    the request is let through and not counted (the rate limiter has
    already logged the outage).
    """
    key = _counter_key(organization, is_test=is_test)
    if not ratelimit.available():
        return 0
    try:
        pipe = ratelimit.client().pipeline()
        pipe.incr(key)
        pipe.expire(key, 40 * 24 * 3600)
        count = int(pipe.execute()[0])
    except redis.RedisError:
        ratelimit.tripped()
        return 0
    maximum = limit_for(organization, "monthly_requests")
    if not is_test and maximum is not None and count > maximum:
        if _in_monthly_grace(organization):
            return count
        raise MonthlyQuotaExceeded(wait=_seconds_to_period_end(organization))
    return count


def monthly_requests_used(organization: Organization, *, is_test: bool = False) -> int:
    try:
        value = ratelimit.client().get(_counter_key(organization, is_test=is_test))
    except redis.RedisError:
        return organization.monthly_requests
    return int(value or 0)


def period_end(organization: Organization) -> datetime:
    """When the current counting window ends (the paid period, or the month)."""
    start = period_start(organization)
    end = organization.current_period_end
    if organization.usage_period_start is not None and end is not None and end > start:
        return end
    month = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _seconds_to_period_end(organization: Organization) -> int:
    end = period_end(organization)
    return max(int((end - timezone.now()).total_seconds()), 1)


def check_limit(organization: Organization, *, limit: str, current: int) -> None:
    """Raise PlanLimitExceeded if one more would pass the limit in force."""
    maximum = limit_for(organization, limit)
    if maximum is not None and current >= maximum:
        raise PlanLimitExceeded(
            limit=limit,
            maximum=maximum,
            current=current,
            plan=organization.plan_tier,
        )
