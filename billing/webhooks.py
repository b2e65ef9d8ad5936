"""What Atrium does with the Stripe events dj-stripe has verified and stored.

dj-stripe checks the signature, records the event once by its id (a second
delivery of the same event, even a concurrent one, runs no handler) and
refreshes its own copy of the object from Stripe; these receivers then set
the organization to Stripe's current state. They run inside the webhook's
transaction: an error answers 500 and Stripe delivers the event again.
"""

from __future__ import annotations

import logging
from typing import Any

from djstripe.models import Event
from djstripe.signals import WEBHOOK_SIGNALS

from billing.subscriptions import organization_billing_sync, organization_for_customer

logger = logging.getLogger(__name__)

SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
PAID_EVENTS = ("invoice.paid", "invoice.payment_succeeded")
OTHER_EVENTS = ("invoice.payment_failed", "checkout.session.completed")


def _customer_id(event: Event) -> str:
    obj = (event.data or {}).get("object") or {}
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return str(customer or "")


def on_billing_event(sender: Any, event: Event, **kwargs: Any) -> None:
    customer = _customer_id(event)
    organization_id = organization_for_customer(customer) if customer else None
    if organization_id is None:
        logger.info("Stripe event %s (%s) is for no organization", event.id, event.type)
        return
    paid_invoice = ""
    if event.type in PAID_EVENTS:
        paid_invoice = str(event.data["object"]["id"])
    organization_billing_sync(
        organization_id=organization_id,
        source=f"webhook:{event.type}:{event.id}",
        paid_invoice_id=paid_invoice,
    )


def connect() -> None:
    for name in (*SUBSCRIPTION_EVENTS, *PAID_EVENTS, *OTHER_EVENTS):
        WEBHOOK_SIGNALS[name].connect(
            on_billing_event, sender=Event, dispatch_uid=f"atrium-billing-{name}"
        )
