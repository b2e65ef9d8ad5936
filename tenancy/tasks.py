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
