"""How Celery tasks get a tenant context.

A task never inherits one: it receives the workspace id as its first
argument and runs inside its own transaction with the context set first, so
a worker process that ran workspace A's task a moment ago sees nothing of A
in the next one.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from celery import shared_task

from tenancy.context import as_workspace

R = TypeVar("R")


def workspace_task(
    **task_options: Any,
) -> Callable[[Callable[..., R]], Any]:
    """Declare a task whose body runs as system work inside one workspace.

    The task's first argument is the workspace id (JSON: a string).
    """

    def decorator(func: Callable[..., R]) -> Any:
        @functools.wraps(func)
        def run(workspace_id: str, *args: Any, **kwargs: Any) -> R:
            with as_workspace(uuid.UUID(str(workspace_id))):
                return func(workspace_id, *args, **kwargs)

        return shared_task(**task_options)(run)

    return decorator


@shared_task
def ops_error_rate_check() -> int:
    """Alert on routes whose server-error share is too high (every minute)."""
    # Imported here: this module is imported before Django's apps are
    # ready (workers load the task decorator first), and alerts need models.
    from tenancy.observability import alerts

    return len(alerts.error_rate_check())


@shared_task
def ops_api_key_spikes_check() -> int:
    """Revoke API keys whose traffic jumped far above their baseline (every minute)."""
    from tenancy.observability import alerts

    return len(alerts.api_key_spikes_check())


# --- webhooks, exports, erasure (docs/webhooks.md, docs/data.md) -------------


@shared_task(name="tenancy.tasks.webhook_deliver")
def webhook_deliver(workspace_id: str, delivery_id: str) -> str:
    """Make the next attempt of one webhook delivery, if it is due."""
    from tenancy.webhook_delivery import delivery_attempt

    return delivery_attempt(
        workspace_id=uuid.UUID(workspace_id), delivery_id=uuid.UUID(delivery_id)
    )


@shared_task(name="tenancy.tasks.webhook_deliveries_sweep")
def webhook_deliveries_sweep() -> int:
    """Queue due webhook deliveries of every workspace, each in its context."""
    from tenancy.selectors import workspace_ids_for_system
    from tenancy.webhook_delivery import deliveries_due_dispatch

    return sum(
        deliveries_due_dispatch(workspace_id=workspace_id)
        for workspace_id in workspace_ids_for_system()
    )


@shared_task(name="tenancy.tasks.export_build")
def export_build(workspace_id: str, job_id: str) -> str:
    """Build a workspace export archive."""
    from tenancy.exports import export_run

    return export_run(workspace_id=uuid.UUID(workspace_id), job_id=uuid.UUID(job_id))


@shared_task(name="tenancy.tasks.exports_expire")
def exports_expire() -> int:
    """Delete the archives of expired exports in every workspace."""
    from tenancy.exports import exports_expire_all

    return exports_expire_all()


@shared_task(name="tenancy.tasks.erasure_purge")
def erasure_purge(receipt_id: str, requested_by_id: str) -> str:
    """Purge a deleted workspace or organization and complete its receipt.

    Runs as the person who asked: the receipt is theirs, and only they (or
    the organization's managers) may purge what it names.
    """
    from tenancy.erasure import erasure_run

    return erasure_run(
        receipt_id=uuid.UUID(receipt_id), requested_by_id=uuid.UUID(requested_by_id)
    )
