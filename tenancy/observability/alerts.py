"""The design's operational alerts: error rate, and spikes on an API key.

Every request adds to per-minute counters in Redis (one hash per minute:
requests and server errors per route, requests per API key). Celery beat
runs the two checks below every minute. The other two alerts of the design,
an organization near its monthly request limit and a workspace near its
document limit, are billing's (``billing.tasks.usage_alerts_check``).

- **Error rate**: over the last ``ATRIUM_ALERT_ERROR_WINDOW`` complete
  minutes, per route and over all routes, server errors (5xx) above
  ``ATRIUM_ALERT_ERROR_RATE`` of at least ``ATRIUM_ALERT_ERROR_MIN_REQUESTS``
  requests. Logged at ERROR, counted, and emailed to
  ``ATRIUM_ALERT_EMAILS``; once per route per window.
- **API key spike**: a key's requests in the current or the last minute
  reach ``ATRIUM_KEY_SPIKE_FACTOR`` times its mean over the
  ``ATRIUM_KEY_SPIKE_BASELINE`` minutes before, and at least
  ``ATRIUM_KEY_SPIKE_MIN_REQUESTS``. The key is revoked at once (audited,
  with the figures as the reason) and the workspace's admins are emailed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from tenancy import ratelimit
from tenancy.context import as_workspace
from tenancy.models import APIKey, Workspace
from tenancy.observability import metrics
from tenancy.selectors import workspace_admin_emails
from tenancy.services import api_key_revoke

logger = logging.getLogger(__name__)

KEY_PREFIX = "atrium:ops"
ALL_ROUTES = "*"


def _minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60)


def _hash_key(minute: int) -> str:
    return f"{KEY_PREFIX}:m:{minute}"


def _retention_seconds() -> int:
    minutes = max(
        int(settings.ATRIUM_KEY_SPIKE_BASELINE), int(settings.ATRIUM_ALERT_ERROR_WINDOW)
    )
    return (minutes + 3) * 60


def request_count(
    *,
    route: str,
    failed: bool,
    api_key_id: uuid.UUID | None,
    api_key_workspace_id: uuid.UUID | None,
    now: float | None = None,
) -> None:
    """Count one finished request in the minute's hash (best effort).

    Shares the rate limiter's Redis client and circuit breaker: with Redis
    down, requests go on uncounted rather than waiting on it.
    """
    if not ratelimit.available():
        return
    key = _hash_key(_minute(now))
    try:
        with ratelimit.client().pipeline(transaction=False) as pipe:
            pipe.hincrby(key, f"r|{route}", 1)
            pipe.hincrby(key, f"r|{ALL_ROUTES}", 1)
            if failed:
                pipe.hincrby(key, f"e|{route}", 1)
                pipe.hincrby(key, f"e|{ALL_ROUTES}", 1)
            if api_key_id is not None:
                pipe.hincrby(key, f"k|{api_key_workspace_id}|{api_key_id}", 1)
            pipe.expire(key, _retention_seconds())
            pipe.execute()
    except redis.RedisError as error:
        ratelimit.tripped()
        logger.warning("request counters unavailable: %s", type(error).__name__)


def _minutes(first: int, last: int) -> dict[int, dict[str, int]]:
    """The counter hashes of minutes ``first``..``last`` (inclusive)."""
    minutes = list(range(first, last + 1))
    with ratelimit.client().pipeline(transaction=False) as pipe:
        for minute in minutes:
            pipe.hgetall(_hash_key(minute))
        rows = pipe.execute()
    return {
        minute: {field.decode(): int(value) for field, value in row.items()}
        for minute, row in zip(minutes, rows, strict=True)
    }


def _first_time(name: str, seconds: int) -> bool:
    """True once per ``seconds`` for ``name``, across every process."""
    return bool(
        ratelimit.client().set(f"{KEY_PREFIX}:fired:{name}", 1, nx=True, ex=seconds)
    )


@dataclass(frozen=True)
class ErrorRateAlert:
    route: str
    requests: int
    errors: int

    @property
    def rate(self) -> float:
        return self.errors / self.requests


def error_rate_check(*, now: float | None = None) -> list[ErrorRateAlert]:
    """Raise an alert for each route whose server-error share is too high."""
    window = int(settings.ATRIUM_ALERT_ERROR_WINDOW)
    current = _minute(now)
    counts = _minutes(current - window, current - 1)
    requests: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    for row in counts.values():
        for field, value in row.items():
            kind, _, route = field.partition("|")
            if kind == "r":
                requests[route] += value
            elif kind == "e":
                errors[route] += value

    threshold = float(settings.ATRIUM_ALERT_ERROR_RATE)
    minimum = int(settings.ATRIUM_ALERT_ERROR_MIN_REQUESTS)
    raised = []
    for route, total in sorted(requests.items()):
        alert = ErrorRateAlert(route=route, requests=total, errors=errors[route])
        if total < minimum or alert.rate <= threshold:
            continue
        if not _first_time(f"error_rate:{route}", window * 60):
            continue
        _error_rate_raise(alert, window)
        raised.append(alert)
    return raised


def _error_rate_raise(alert: ErrorRateAlert, window: int) -> None:
    metrics.ALERTS.labels(alert="error_rate").inc()
    where = "all routes" if alert.route == ALL_ROUTES else f"route {alert.route}"
    logger.error(
        "error rate %.1f%% on %s: %d of %d requests in %d minutes",
        100 * alert.rate,
        where,
        alert.errors,
        alert.requests,
        window,
        extra={
            "event": "alert",
            "alert": "error_rate",
            "route": alert.route,
            "requests": alert.requests,
            "errors": alert.errors,
        },
    )
    recipients = list(settings.ATRIUM_ALERT_EMAILS)
    if recipients:
        send_mail(
            f"Atrium: {100 * alert.rate:.1f}% server errors on {where}",
            f"{alert.errors} of {alert.requests} requests to {where} ended in a "
            f"server error over the last {window} minutes (threshold "
            f"{100 * float(settings.ATRIUM_ALERT_ERROR_RATE):.1f}%). See the "
            "ERROR lines of event http_request for the failing requests.\n",
            settings.DEFAULT_FROM_EMAIL,
            recipients,
            fail_silently=False,
        )


@dataclass(frozen=True)
class KeySpike:
    workspace_id: uuid.UUID
    api_key_id: uuid.UUID
    requests: int
    baseline: float


def api_key_spikes_find(*, now: float | None = None) -> list[KeySpike]:
    """Keys whose requests this minute or last jumped far above their baseline."""
    baseline_minutes = int(settings.ATRIUM_KEY_SPIKE_BASELINE)
    current = _minute(now)
    counts = _minutes(current - 1 - baseline_minutes, current)
    per_key: dict[str, dict[int, int]] = defaultdict(dict)
    for minute, row in counts.items():
        for field, value in row.items():
            if field.startswith("k|"):
                per_key[field][minute] = value

    factor = float(settings.ATRIUM_KEY_SPIKE_FACTOR)
    minimum = int(settings.ATRIUM_KEY_SPIKE_MIN_REQUESTS)
    spikes = []
    for field, by_minute in sorted(per_key.items()):
        recent = max(by_minute.get(current, 0), by_minute.get(current - 1, 0))
        before = range(current - 1 - baseline_minutes, current - 1)
        baseline = sum(by_minute.get(minute, 0) for minute in before) / max(
            baseline_minutes, 1
        )
        if recent < minimum or recent < factor * baseline:
            continue
        _, workspace_id, key_id = field.split("|")
        spikes.append(
            KeySpike(
                workspace_id=uuid.UUID(workspace_id),
                api_key_id=uuid.UUID(key_id),
                requests=recent,
                baseline=baseline,
            )
        )
    return spikes


def api_key_spike_revoke(*, spike: KeySpike) -> APIKey | None:
    """Revoke the spiking key, audit it and email the workspace's admins.

    Returns the key, or None if it was gone or already revoked. Runs as
    system work inside the key's workspace.
    """
    with as_workspace(spike.workspace_id):
        api_key = (
            APIKey.objects.select_related("workspace__organization")
            .filter(
                pk=spike.api_key_id,
                workspace_id=spike.workspace_id,
                revoked_at__isnull=True,
            )
            .first()
        )
        if api_key is None:
            return None
        workspace: Workspace = api_key.workspace
        reason = (
            f"automatic: {spike.requests} requests in one minute against a "
            f"baseline of {spike.baseline:.1f} per minute"
        )
        api_key_revoke(api_key=api_key, reason=reason)
        recipients = workspace_admin_emails(
            organization_id=workspace.organization_id, workspace_id=workspace.pk
        )
        subject = f"Atrium revoked the API key {api_key.prefix} of {workspace.name}"
        body = (
            f"The API key {api_key.name!r} ({api_key.prefix}…) of the workspace "
            f"{workspace.name} made {spike.requests} requests in one minute, "
            f"against {spike.baseline:.1f} per minute before, and was revoked "
            "at once in case it leaked. Requests with it now fail with "
            "api_key_revoked. If the traffic was yours, create a new key and "
            "raise its rate limit as needed.\n"
        )
        if recipients:
            transaction.on_commit(
                lambda: send_mail(
                    subject,
                    body,
                    settings.DEFAULT_FROM_EMAIL,
                    recipients,
                    fail_silently=False,
                )
            )
    metrics.ALERTS.labels(alert="api_key_spike").inc()
    logger.error(
        "API key %s revoked after %d requests in a minute (baseline %.1f)",
        api_key.prefix,
        spike.requests,
        spike.baseline,
        extra={
            "event": "alert",
            "alert": "api_key_spike",
            "workspace_id": str(spike.workspace_id),
            "organization_id": str(workspace.organization_id),
            "api_key_prefix": api_key.prefix,
            "requests": spike.requests,
        },
    )
    return api_key


def api_key_spikes_check(*, now: float | None = None) -> list[APIKey]:
    """Find spiking keys and revoke each; see the module docstring."""
    revoked = []
    for spike in api_key_spikes_find(now=now):
        api_key = api_key_spike_revoke(spike=spike)
        if api_key is not None:
            revoked.append(api_key)
    return revoked
