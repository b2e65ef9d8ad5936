"""Prometheus metrics of the web processes and the Celery workers.

With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment *before the process
starts*, every process (each gunicorn worker, each Celery pool child) writes
its samples to files there and :func:`exposition` adds them all up, so a
scrape sees the whole host and not the one worker that happened to answer.
Without it (development, tests) each process reports only its own.

Label cardinality (docs/operations.md): endpoints are labelled by URL route
name, never by path, so ids never become labels. Per-tenant counters carry
organization, workspace and agent ids down to the level
``ATRIUM_METRICS_TENANT_LABELS`` allows, and no other label, so they add one
series per active tenant at that level and do not multiply with endpoints or
status codes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from django.conf import settings
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STAGE_BUCKETS = (0.05, 0.25, 1, 2.5, 5, 15, 30, 60, 120, 300, 900)

HTTP_REQUESTS = Counter(
    "atrium_http_requests",
    "HTTP requests answered, by route, method and status code.",
    ["route", "method", "status"],
)
HTTP_ERRORS = Counter(
    "atrium_http_errors",
    "HTTP requests that ended in a server error (5xx), by route and method.",
    ["route", "method"],
)
HTTP_LATENCY = Histogram(
    "atrium_http_request_duration_seconds",
    "Time from the request's arrival to its response, by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
TENANT_REQUESTS = Counter(
    "atrium_tenant_requests",
    "Requests per organization, workspace and agent (ATRIUM_METRICS_TENANT_LABELS).",
    ["organization", "workspace", "agent"],
)
TENANT_TOKENS = Counter(
    "atrium_tenant_tokens",
    "Model tokens (input and output) per organization, workspace and agent.",
    ["organization", "workspace", "agent"],
)
TASKS = Counter(
    "atrium_celery_tasks",
    "Celery task runs by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
)
TASK_LATENCY = Histogram(
    "atrium_celery_task_duration_seconds",
    "Celery task run time, by task name.",
    ["task"],
    buckets=STAGE_BUCKETS,
)
INGEST_STAGE = Histogram(
    "atrium_ingest_stage_duration_seconds",
    "Time a document spent in an ingestion stage, by stage and outcome.",
    ["stage", "outcome"],
    buckets=STAGE_BUCKETS,
)
ALERTS = Counter(
    "atrium_alerts",
    "Operational alerts raised, by alert name.",
    ["alert"],
)

TENANT_LEVELS = ("off", "organization", "workspace", "agent")


def tenant_labels(
    organization_id: str, workspace_id: str, agent_id: str
) -> dict[str, str] | None:
    """The tenant labels the configured level allows, or None to skip."""
    level = settings.ATRIUM_METRICS_TENANT_LABELS
    depth = TENANT_LEVELS.index(level) if level in TENANT_LEVELS else 0
    if depth == 0 or not organization_id:
        return None
    return {
        "organization": organization_id,
        "workspace": workspace_id if depth >= 2 else "",
        "agent": agent_id if depth >= 3 else "",
    }


def tenant_count(
    *,
    organization_id: str,
    workspace_id: str,
    agent_id: str,
    tokens: int,
    request: bool = True,
) -> None:
    """Count a request (unless ``request`` is False) and its tokens."""
    labels = tenant_labels(organization_id, workspace_id, agent_id)
    if labels is None:
        return
    if request:
        TENANT_REQUESTS.labels(**labels).inc()
    if tokens:
        TENANT_TOKENS.labels(**labels).inc(tokens)


def ingest_stage_observe(*, stage: str, seconds: float, outcome: str) -> None:
    INGEST_STAGE.labels(stage=stage, outcome=outcome).observe(max(seconds, 0.0))


def queue_names() -> list[str]:
    """The Celery queues Atrium routes work to."""
    names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    for route in settings.CELERY_TASK_ROUTES.values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(route["queue"])
    return sorted(names)


# Kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in lists
# named "<queue>\x06\x16<priority>" beside the queue's own list.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


class QueueDepthCollector(Collector):
    """Messages waiting in each Celery queue, read from the broker at scrape."""

    def collect(self) -> Iterable[Any]:
        family = GaugeMetricFamily(
            "atrium_celery_queue_depth",
            "Messages waiting in a Celery queue (the broker's list lengths).",
            labels=["queue"],
        )
        try:
            client = redis.Redis.from_url(
                settings.CELERY_BROKER_URL, socket_timeout=1, socket_connect_timeout=1
            )
            with client.pipeline(transaction=False) as pipe:
                names = queue_names()
                for name in names:
                    for suffix in _PRIORITY_SUFFIXES:
                        pipe.llen(name + suffix)
                lengths = pipe.execute()
        except redis.RedisError as error:
            # A scrape still reports everything else; the missing series is
            # the signal (and readiness reports the broker).
            logger.warning("queue depth unavailable: %s", type(error).__name__)
            return
        per_queue = len(_PRIORITY_SUFFIXES)
        for index, name in enumerate(names):
            total = sum(lengths[index * per_queue : (index + 1) * per_queue])
            family.add_metric([name], total)
        yield family


class _ProcessCollector(Collector):
    """This process's own registry, for single-process mode."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> tuple[bytes, str]:
    """Every metric in the text exposition format, and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(QueueDepthCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
