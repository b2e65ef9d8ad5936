"""One log line and the outcome metrics of every Celery task.

Connected by ``config.celery`` in every worker. A task published during a
request carries that request's id in a message header, so the task's line
can be found from the request's and the other way round.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from functools import cache
from typing import Any

from celery import Task, signals
from django.conf import settings

from tenancy.observability import exporter, metrics
from tenancy.observability.context import (
    WorkRecord,
    current_record,
    record_enter,
    record_leave,
    request_id_accept,
)

logger = logging.getLogger("atrium.task")

REQUEST_ID_HEADER = "atrium_request_id"

# Task id -> (record, context token, error class name) while the task runs.
_running: dict[str, tuple[WorkRecord, Any, str]] = {}


@signals.worker_init.connect
def _serve_metrics(**_: Any) -> None:
    address = settings.ATRIUM_WORKER_METRICS_ADDRESS
    if address:
        exporter.serve(address)


@signals.before_task_publish.connect
def _publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    record = current_record()
    if record is not None and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, record.request_id)


@cache
def _takes_workspace(task_name: str, run: Any) -> bool:
    """Whether the task's first parameter is ``workspace_id`` (Atrium's rule)."""
    try:
        parameters = list(inspect.signature(run).parameters)
    except (TypeError, ValueError):
        return False
    return bool(parameters) and parameters[0] == "workspace_id"


def _workspace_of(task: Task, args: Any, kwargs: Any) -> str:
    value = (kwargs or {}).get("workspace_id")
    if value is None and args and _takes_workspace(task.name, task.run):
        value = args[0]
    try:
        return str(uuid.UUID(str(value))) if value is not None else ""
    except ValueError:
        return ""


@signals.task_prerun.connect
def _prerun(
    task_id: str | None = None,
    task: Task | None = None,
    args: Any = None,
    kwargs: Any = None,
    **_: Any,
) -> None:
    if task is None or task_id is None:
        return
    incoming = getattr(task.request, REQUEST_ID_HEADER, None) or (
        (task.request.headers or {}).get(REQUEST_ID_HEADER)
        if isinstance(getattr(task.request, "headers", None), dict)
        else None
    )
    record = WorkRecord(
        request_id=request_id_accept(incoming) if incoming else task_id,
        workspace_id=_workspace_of(task, args, kwargs),
    )
    _running[task_id] = (record, record_enter(record), "")


@signals.task_failure.connect
def _failure(
    task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    if task_id in _running and exception is not None:
        record, token, _error = _running[task_id]
        _running[task_id] = (record, token, type(exception).__name__)


@signals.task_postrun.connect
def _postrun(
    task_id: str | None = None,
    task: Task | None = None,
    state: str | None = None,
    **_: Any,
) -> None:
    if task_id is None or task_id not in _running:
        return
    record, token, error = _running.pop(task_id)
    try:
        _finish(record, task, task_id, state or "", error)
    finally:
        record_leave(token)


OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}


def _finish(
    record: WorkRecord, task: Task | None, task_id: str, state: str, error: str
) -> None:
    name = task.name if task is not None else "unknown"
    outcome = OUTCOMES.get(state, state.lower() or "unknown")
    latency_ms = record.elapsed_ms()
    retries = int(getattr(task.request, "retries", 0) or 0) if task else 0
    logger.log(
        logging.ERROR if outcome == "failure" else logging.INFO,
        "task %s %s in %.1fms",
        name,
        outcome,
        latency_ms,
        extra={
            "event": "celery_task",
            **record.tenant_fields(),
            "task": name,
            "task_id": task_id,
            "outcome": outcome,
            "success": outcome == "success",
            "retries": retries,
            "error": error or None,
            "latency_ms": latency_ms,
            "tokens": record.tokens,
            "tools_called": list(record.tools_called),
        },
    )
    metrics.TASKS.labels(task=name, outcome=outcome).inc()
    metrics.TASK_LATENCY.labels(task=name).observe(latency_ms / 1000)
    metrics.tenant_count(
        organization_id=record.organization_id,
        workspace_id=record.workspace_id,
        agent_id=record.agent_id,
        tokens=record.tokens,
        request=False,
    )
