"""Sending webhook deliveries: one attempt at a time, with backoff.

An attempt claims its delivery (so two workers never send it at once),
sends the signed body outside any transaction, then records what the
receiver answered: 2xx succeeds; 410 disables the endpoint; anything else
(or no answer) is retried after an exponentially growing, jittered wait
until ``ATRIUM_WEBHOOK_MAX_ATTEMPTS``. Short waits are queued with a
countdown; longer ones are left to the sweeper, which also recovers
attempts whose task was lost (docs/webhooks.md).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from tenancy.addresses import url_check
from tenancy.context import as_workspace
from tenancy.data_models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
)
from tenancy.errors import WebhookURLRefused
from tenancy.webhooks import (
    SIGNATURE_HEADER,
    delivery_dispatch,
    event_body,
    secret_open,
    signature,
    url_policy,
)

logger = logging.getLogger(__name__)

PENDING = WebhookDeliveryStatus.PENDING


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""
    # No point retrying: the URL itself is refused.
    final: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def backoff_seconds(attempt: int) -> float:
    """The wait after failed attempt number ``attempt`` (1-based).

    Doubles from ``ATRIUM_WEBHOOK_RETRY_BASE_SECONDS`` up to the maximum,
    with "equal jitter": half the wait is fixed, half random, so receivers
    that failed together are not all retried at the same instant.
    """
    base = float(settings.ATRIUM_WEBHOOK_RETRY_BASE_SECONDS)
    ceiling = float(settings.ATRIUM_WEBHOOK_RETRY_MAX_SECONDS)
    wait = min(ceiling, base * 2 ** (attempt - 1))
    return wait / 2 + random.uniform(0, wait / 2)  # noqa: S311 (not security)


def _lease() -> timedelta:
    return timedelta(seconds=float(settings.ATRIUM_WEBHOOK_TIMEOUT) + 60)


def _countdown_ceiling() -> float:
    # A task waiting longer than the visibility timeout would be delivered
    # twice; such waits go to the sweeper instead.
    return min(
        300.0, settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] / 2
    )


def send(*, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body`` to ``url``, connecting only to a checked address."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = url_check(url, policy=url_policy())
    except WebhookURLRefused as refused:
        reason = refused.details.get("reason", "refused")
        return Outcome(None, elapsed(), error=f"url_refused:{reason}", final=True)

    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    limit = int(settings.ATRIUM_WEBHOOK_RESPONSE_EXCERPT)
    try:
        with (
            httpx.Client(
                timeout=float(settings.ATRIUM_WEBHOOK_TIMEOUT),
                follow_redirects=False,
                trust_env=False,
            ) as client,
            client.stream(
                "POST",
                target.connect_url,
                content=body,
                headers={**headers, "Host": target.host_header},
                extensions=extensions,
            ) as response,
        ):
            excerpt = b""
            for piece in response.iter_bytes():
                excerpt += piece
                if len(excerpt) >= limit:
                    break
            return Outcome(
                response.status_code,
                elapsed(),
                excerpt[:limit].decode("utf-8", errors="replace"),
            )
    except httpx.TimeoutException:
        return Outcome(None, elapsed(), error="timeout")
    except httpx.HTTPError as error:
        return Outcome(None, elapsed(), error=type(error).__name__[:200])


def _claim(workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(
            workspace_id=workspace_id, pk=delivery_id, status=PENDING
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempts=F("attempts") + 1, next_attempt_at=now + _lease())
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("endpoint", "event").get(
        workspace_id=workspace_id, pk=delivery_id
    )


def delivery_attempt(*, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> str:
    """Make the next attempt of a delivery if it is due; return its state."""
    with as_workspace(workspace_id):
        delivery = _claim(workspace_id, delivery_id)
        if delivery is None:
            return "not_due"
        endpoint = delivery.endpoint
        if not endpoint.is_active:
            delivery.status = WebhookDeliveryStatus.FAILED
            delivery.completed_at = timezone.now()
            delivery.next_attempt_at = None
            delivery.attempts -= 1
            delivery.save(
                update_fields=["status", "completed_at", "next_attempt_at", "attempts"]
            )
            return "endpoint_disabled"
        body = event_body(delivery.event)
        secret = secret_open(endpoint.secret_encrypted)
        url, number, event = endpoint.url, delivery.attempts, delivery.event

    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Atrium-Webhooks/1",
        "Atrium-Event": event.type,
        "Atrium-Event-Id": str(event.id),
        "Atrium-Delivery": str(delivery_id),
        "Atrium-Attempt": str(number),
        SIGNATURE_HEADER: signature(
            secret=secret, timestamp=int(time.time()), body=body
        ),
    }
    outcome = send(url=url, body=body, headers=headers)
    return _record(workspace_id, delivery_id, number, outcome)


def _record(
    workspace_id: uuid.UUID, delivery_id: uuid.UUID, number: int, outcome: Outcome
) -> str:
    with as_workspace(workspace_id):
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint")
            .get(workspace_id=workspace_id, pk=delivery_id)
        )
        WebhookAttempt.objects.create(
            workspace_id=workspace_id,
            delivery=delivery,
            number=number,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
        )
        delivery.last_status_code = outcome.status_code
        now = timezone.now()
        gone = outcome.status_code == 410
        if outcome.succeeded:
            state = WebhookDeliveryStatus.SUCCEEDED
        elif gone or outcome.final or number >= settings.ATRIUM_WEBHOOK_MAX_ATTEMPTS:
            state = WebhookDeliveryStatus.FAILED
        else:
            state = PENDING

        delivery.status = state
        if state == PENDING:
            wait = backoff_seconds(number)
            delivery.next_attempt_at = now + timedelta(seconds=wait)
            if wait <= _countdown_ceiling():
                delivery_dispatch(
                    workspace_id=workspace_id, delivery_id=delivery_id, countdown=wait
                )
        else:
            delivery.next_attempt_at = None
            delivery.completed_at = now
        delivery.save(
            update_fields=[
                "status",
                "next_attempt_at",
                "completed_at",
                "last_status_code",
            ]
        )
        if gone:
            endpoint = delivery.endpoint
            endpoint.is_active = False
            endpoint.disabled_reason = "The receiver answered 410 Gone."
            endpoint.save(update_fields=["is_active", "disabled_reason", "updated_at"])
            logger.info(
                "webhook endpoint %s of workspace %s disabled by a 410",
                endpoint.pk,
                workspace_id,
            )
    logger.info(
        "webhook delivery %s attempt %s: status %s in %s ms%s",
        delivery_id,
        number,
        outcome.status_code,
        outcome.duration_ms,
        f" ({outcome.error})" if outcome.error else "",
    )
    return str(state)


def deliveries_due_dispatch(*, workspace_id: uuid.UUID) -> int:
    """Queue every due pending delivery of a workspace (the sweeper's step).

    Covers waits too long for a countdown, tasks lost between commit and
    broker, and attempts whose worker died (their lease has run out).
    """
    with as_workspace(workspace_id):
        due = list(
            WebhookDelivery.objects.filter(
                workspace_id=workspace_id,
                status=PENDING,
                next_attempt_at__lte=timezone.now(),
            ).values_list("pk", flat=True)[:1000]
        )
        for delivery_id in due:
            delivery_dispatch(workspace_id=workspace_id, delivery_id=delivery_id)
    return len(due)
