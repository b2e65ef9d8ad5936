"""Billing's scheduled jobs (Celery beat, see config/settings/base.py).

Each is idempotent: run twice, it leaves the same state and sends nothing
twice.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from celery import shared_task
from django.utils import timezone

from billing import services, subscriptions
from tenancy.context import as_workspace
from tenancy.models import Workspace
from tenancy.selectors import workspace_ids_for_system

logger = logging.getLogger(__name__)


@shared_task
def usage_events_flush() -> int:
    """Write the usage events buffered in Redis to PostgreSQL (every few seconds)."""
    return services.usage_events_flush()


@shared_task
def usage_summaries_build(day: str | None = None) -> int:
    """Rebuild every workspace's summary of ``day`` (default: yesterday and today).

    Yesterday is rebuilt too so events recorded just before midnight, and
    committed just after, are counted.
    """
    services.usage_events_flush()
    today = timezone.localdate()
    days = [date.fromisoformat(day)] if day else [today - timedelta(days=1), today]
    built = 0
    for workspace_id in workspace_ids_for_system():
        with as_workspace(workspace_id):
            workspace = Workspace.objects.get(pk=workspace_id)
            for one_day in days:
                if services.usage_summary_build(workspace=workspace, day=one_day):
                    built += 1
    logger.info("usage summaries built: %d for %s", built, days)
    return built


@shared_task
def usage_alerts_check() -> int:
    """Email admins of organizations and workspaces near a limit, once a period."""
    sent = 0
    for workspace_id in workspace_ids_for_system():
        with as_workspace(workspace_id):
            workspace = Workspace.objects.get(pk=workspace_id)
            sent += len(services.usage_alerts_check(workspace=workspace))
    return sent


@shared_task
def billing_reconcile() -> dict[str, Any]:
    """Nightly: set every organization with a Stripe customer to Stripe's state."""
    return subscriptions.billing_reconcile()
