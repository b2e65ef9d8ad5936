"""Outbound webhooks: endpoints, their secrets, events, and replays.

Any app emits an event with :func:`event_emit` inside the transaction that
made the change; the event and one delivery per subscribed endpoint are
written in that transaction, and the deliveries are queued once it commits
(``tenancy.webhook_delivery`` sends them). A change that rolls back sends
nothing; a queued task that is lost is found again by the sweeper, because
the delivery row is the source of truth. See docs/webhooks.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tenancy import vault
from tenancy.addresses import LOOPBACK, AllowList, Policy, url_check
from tenancy.context import as_workspace
from tenancy.data_models import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from tenancy.errors import WebhookURLRefused
from tenancy.models import Workspace
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Atrium-Signature"
EVENT_TYPES = tuple(WebhookEventType.values)


# --- where deliveries may go -------------------------------------------------


def url_policy() -> Policy:
    """Public https receivers; loopback too where the settings allow it."""
    allowed = LOOPBACK if settings.ATRIUM_WEBHOOK_ALLOW_LOOPBACK else AllowList()
    return Policy(refusal=WebhookURLRefused, allowed=allowed)


# --- secrets -----------------------------------------------------------------


def secret_generate() -> str:
    """A new signing secret: a recognisable prefix and 256 random bits."""
    return f"{settings.ATRIUM_API_KEY_PREFIX}wh_{secrets.token_urlsafe(32)}"


def secret_seal(secret: str) -> str:
    """Seal a signing secret (tenancy.vault)."""
    return vault.seal(secret, what="Webhook secrets")


def secret_open(sealed: str) -> str:
    try:
        return vault.unseal(sealed)
    except vault.SealBroken:
        # A key was dropped from the settings before the secret was re-sealed.
        raise RuntimeError("A webhook secret cannot be decrypted.") from None


def webhook_secrets_reseal() -> vault.Resealed:
    """Re-seal every endpoint's signing secret with the newest encryption key.

    System work across organizations, through the two narrow functions of
    tenancy migration 0010 (list ids and sealed secrets; swap one if it is
    still the value read, so a secret an admin rotated meanwhile is left
    alone). The secret itself does not change: receivers notice nothing, and
    ``secret_rotated_at`` stays. Each swap commits on its own when run
    outside a transaction, so a long pass holds no lock on what it passed.
    """
    return vault.reseal_stored(
        what="webhook endpoint",
        listing="atrium_webhook_secrets_sealed",
        swap="atrium_webhook_secret_reseal",
    )


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``Atrium-Signature`` header value of ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_verify(
    *, secret: str, header: str, body: bytes, tolerance: int = 300, now: int
) -> bool:
    """What a receiver does: check the HMAC and refuse stale timestamps."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected.split("v1=", 1)[1], parts.get("v1", ""))


def event_body(event: WebhookEvent) -> bytes:
    """The JSON body of every delivery of ``event`` (replays send it again)."""
    return json.dumps(
        {
            "id": str(event.id),
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "workspace_id": str(event.workspace_id),
            "data": event.data,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


# --- events ------------------------------------------------------------------


def event_emit(
    *, workspace_id: uuid.UUID, type: str, data: dict[str, Any]
) -> WebhookEvent | None:
    """Record an event of ``workspace_id`` and queue it to subscribed endpoints.

    Call it inside the transaction (and tenant context) of the change the
    event reports: deliveries are queued only when that commits. Returns
    ``None``, writing nothing, when no active endpoint subscribes to it.
    ``data`` must hold ids and metadata only, never secrets or document text.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event type {type!r}.")
    endpoints = list(
        WebhookEndpoint.objects.filter(
            workspace_id=workspace_id, is_active=True, events__contains=[type]
        ).values_list("id", flat=True)
    )
    if not endpoints:
        return None

    event = WebhookEvent.objects.create(workspace_id=workspace_id, type=type, data=data)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            workspace_id=workspace_id,
            endpoint_id=endpoint_id,
            event=event,
            next_attempt_at=timezone.now(),
        )
        for endpoint_id in endpoints
    )
    for delivery in deliveries:
        delivery_dispatch(workspace_id=workspace_id, delivery_id=delivery.id)
    return event


def organization_event_emit(
    *, organization_id: uuid.UUID, type: str, data: dict[str, Any]
) -> int:
    """Emit an organization-wide event into each of its live workspaces.

    Call it from system work inside one workspace of the organization; each
    workspace's event is written inside that workspace's own context.
    Returns how many workspaces had a subscribed endpoint.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w FROM atrium_organization_workspace_ids(%s) AS w",
            [organization_id],
        )
        workspace_ids = [row[0] for row in cursor.fetchall()]
    emitted = 0
    for workspace_id in workspace_ids:
        with as_workspace(workspace_id):
            if event_emit(workspace_id=workspace_id, type=type, data=data):
                emitted += 1
    return emitted


def delivery_dispatch(
    *, workspace_id: uuid.UUID, delivery_id: uuid.UUID, countdown: float = 0
) -> None:
    """Queue an attempt of the delivery once the current transaction commits."""
    from tenancy import tasks

    transaction.on_commit(
        lambda: tasks.webhook_deliver.apply_async(
            args=(str(workspace_id), str(delivery_id)), countdown=countdown
        )
    )


# --- endpoints ---------------------------------------------------------------


@dataclass(frozen=True)
class EndpointWithSecret:
    """An endpoint and its signing secret, which only this object carries."""

    endpoint: WebhookEndpoint
    secret: str


def _endpoint_audit(action: str, endpoint: WebhookEndpoint, **metadata: Any) -> None:
    audit_record(
        action=action,
        organization_id=Workspace.objects.filter(pk=endpoint.workspace_id)
        .values_list("organization_id", flat=True)
        .first(),
        workspace_id=endpoint.workspace_id,
        target=endpoint,
        metadata=metadata,
    )


@transaction.atomic
def webhook_endpoint_create(
    *,
    workspace: Workspace,
    url: str,
    events: list[str],
    description: str = "",
    is_active: bool = True,
    actor_id: uuid.UUID | None = None,
) -> EndpointWithSecret:
    """Register an endpoint; its secret is returned here and never again."""
    url_check(url, policy=url_policy())
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        url=url,
        events=sorted(set(events)),
        description=description,
        is_active=is_active,
        secret_encrypted=secret_seal(secret),
        created_by_id=actor_id,
    )
    _endpoint_audit("webhook.created", endpoint, events=endpoint.events)
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


@transaction.atomic
def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, fields: dict[str, Any]
) -> WebhookEndpoint:
    """Change an endpoint; turning it on again clears why it was disabled."""
    if "url" in fields:
        url_check(fields["url"], policy=url_policy())
    if "events" in fields:
        fields = {**fields, "events": sorted(set(fields["events"]))}
    if fields.get("is_active"):
        fields = {**fields, "disabled_reason": ""}
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.save(update_fields=[*fields, "updated_at"])
    _endpoint_audit("webhook.updated", endpoint, fields=sorted(fields))
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Remove an endpoint with its deliveries and their attempts."""
    _endpoint_audit("webhook.deleted", endpoint, url=endpoint.url)
    endpoint.delete()


@transaction.atomic
def webhook_secret_rotate(*, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """Give the endpoint a new secret at once; the old one stops signing."""
    secret = secret_generate()
    endpoint.secret_encrypted = secret_seal(secret)
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["secret_encrypted", "secret_rotated_at", "updated_at"])
    _endpoint_audit("webhook.secret_rotated", endpoint)
    return EndpointWithSecret(endpoint=endpoint, secret=secret)


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, as a new delivery.

    The body is the same event (same ``id``), so a receiver that already
    handled it can recognise the repeat; the new delivery has its own
    attempts.
    """
    replay = WebhookDelivery.objects.create(
        workspace_id=delivery.workspace_id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        replay_of=delivery,
        next_attempt_at=timezone.now(),
    )
    audit_record(
        action="webhook.replayed",
        workspace_id=delivery.workspace_id,
        target=replay,
        metadata={"replay_of": str(delivery.pk), "event_id": str(delivery.event_id)},
    )
    delivery_dispatch(workspace_id=delivery.workspace_id, delivery_id=replay.id)
    return replay
