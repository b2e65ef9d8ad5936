"""Stripe: customers, Checkout, the customer portal, and plan state from Stripe.

Every call goes through the official SDK (``stripe``), against
``stripe.api_base`` (tests point it at a local server). Stripe is the source
of truth for subscriptions: webhooks and the nightly reconciliation do not
trust an event's payload or order, they re-read the customer's
subscriptions and set the organization to match (``organization_billing_sync``).

Webhooks and reconciliation act for no user, so they read and write the
organization only through the billing doors of tenancy migration 0004.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from djstripe.settings import djstripe_settings

from billing.models import LIMIT_NAMES
from billing.plans import (
    TIER_RANK,
    is_lower,
    organization_limits,
    plan_get,
    price_for,
    tier_for_price,
)
from tenancy.errors import AtriumError, ConflictError
from tenancy.models import Organization, PlanTier, SubscriptionStatus
from tenancy.services import audit_record

logger = logging.getLogger(__name__)

# Stripe statuses in which the customer is entitled to the subscribed plan.
# past_due keeps the plan while Stripe retries the payment; when it gives up
# the subscription is canceled (or unpaid) and the organization drops to free.
ENTITLED = {"active", "trialing", "past_due"}
STATUS_MAP = {
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.TRIALING,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "paused": SubscriptionStatus.PAUSED,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
}


class BillingUnavailable(AtriumError):
    """This server has no Stripe key: a state of the deployment, not an outage.

    409 rather than 503, which would tell clients to retry what cannot work.
    """

    status = 409
    code = "billing_unavailable"


class PlanNotPurchasable(AtriumError):
    code = "plan_not_purchasable"


class StripeRequestFailed(AtriumError):
    status = 502
    code = "payment_provider_error"


def _api_key() -> str:
    key = str(djstripe_settings.STRIPE_SECRET_KEY or "")
    if not key:
        raise BillingUnavailable("Billing is not configured on this server.")
    return key


def _stamp(value: int | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _customer_ensure(organization: Organization) -> str:
    """The organization's Stripe customer, created on first need.

    Runs as an owner, with the organization row locked; the idempotency key
    makes a retried or concurrent creation return the same customer.
    """
    if organization.stripe_customer_id:
        return organization.stripe_customer_id
    try:
        customer = stripe.Customer.create(
            api_key=_api_key(),
            email=organization.contact_email,
            name=organization.name,
            metadata={"atrium_organization_id": str(organization.pk)},
            idempotency_key=f"atrium-customer-{organization.pk}",
        )
    except stripe.StripeError as error:
        logger.warning(
            "creating the Stripe customer of %s failed: %s",
            organization.pk,
            type(error).__name__,
        )
        raise StripeRequestFailed("The payment provider did not answer.") from None
    organization.stripe_customer_id = customer["id"]
    organization.save(update_fields=["stripe_customer_id", "updated_at"])
    audit_record(
        action="billing.customer_created",
        organization_id=organization.pk,
        target=organization,
        metadata={"stripe_customer_id": customer["id"]},
    )
    return str(customer["id"])


@dataclass(frozen=True)
class RedirectSession:
    id: str
    url: str


@transaction.atomic
def checkout_session_create(
    *, organization: Organization, plan_tier: str
) -> RedirectSession:
    """Open a Stripe Checkout session that subscribes the organization."""
    price = price_for(plan_tier)
    if plan_tier == PlanTier.FREE or not price:
        raise PlanNotPurchasable(
            f"The {plan_tier} plan cannot be bought through Checkout.",
            plan=plan_tier,
        )
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    if organization.stripe_subscription_id and organization.plan_tier != "free":
        raise ConflictError(
            "The organization already has a subscription; change it in the "
            "customer portal.",
            plan=organization.plan_tier,
        )
    customer = _customer_ensure(organization)
    metadata = {"atrium_organization_id": str(organization.pk), "plan_tier": plan_tier}
    try:
        session = stripe.checkout.Session.create(
            api_key=_api_key(),
            mode="subscription",
            customer=customer,
            client_reference_id=str(organization.pk),
            line_items=[{"price": price, "quantity": 1}],
            metadata=metadata,
            subscription_data={"metadata": metadata},
            success_url=settings.ATRIUM_BILLING_RETURN_URL,
            cancel_url=settings.ATRIUM_BILLING_RETURN_URL,
        )
    except stripe.StripeError as error:
        logger.warning(
            "Checkout for %s failed: %s", organization.pk, type(error).__name__
        )
        raise StripeRequestFailed("The payment provider did not answer.") from None
    audit_record(
        action="billing.checkout_started",
        organization_id=organization.pk,
        target=organization,
        metadata={"plan_tier": plan_tier, "session": session["id"]},
    )
    return RedirectSession(id=session["id"], url=session["url"])


@transaction.atomic
def portal_session_create(*, organization: Organization) -> RedirectSession:
    """Open the Stripe customer portal: payment methods, invoices, cancelling."""
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    customer = _customer_ensure(organization)
    try:
        session = stripe.billing_portal.Session.create(
            api_key=_api_key(),
            customer=customer,
            return_url=settings.ATRIUM_BILLING_RETURN_URL,
        )
    except stripe.StripeError as error:
        logger.warning(
            "portal for %s failed: %s", organization.pk, type(error).__name__
        )
        raise StripeRequestFailed("The payment provider did not answer.") from None
    audit_record(
        action="billing.portal_opened",
        organization_id=organization.pk,
        target=organization,
    )
    return RedirectSession(id=session["id"], url=session["url"])


# --- state from Stripe (webhooks, reconciliation) ---------------------------


def organization_for_customer(customer_id: str) -> uuid.UUID | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atrium_billing_organization_for_customer(%s)", [customer_id]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def organization_ids_with_customers() -> list[uuid.UUID]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT o FROM atrium_billing_organization_ids() AS o")
        return [row[0] for row in cursor.fetchall()]


def _locked(organization_id: uuid.UUID) -> Organization | None:
    rows = list(
        Organization.objects.raw(
            "SELECT * FROM atrium_billing_organization_lock(%s)", [organization_id]
        )
    )
    return rows[0] if rows else None


def _write(organization_id: uuid.UUID, values: dict[str, Any], source: str) -> None:
    encoded = {
        k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM atrium_billing_organization_write(%s, %s::jsonb, %s)",
            [organization_id, _json(encoded), source],
        )


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _current_subscription(customer_id: str) -> dict[str, Any] | None:
    """The customer's subscription that decides the plan, re-read from Stripe.

    An entitled one (newest first) wins; else the newest of any status, so a
    cancellation is seen as such.
    """
    subscriptions = stripe.Subscription.list(
        api_key=_api_key(), customer=customer_id, status="all", limit=100
    )
    found = sorted(
        (s.to_dict() for s in subscriptions.auto_paging_iter()),
        key=lambda s: int(s.get("created") or 0),
        reverse=True,
    )
    entitled = [s for s in found if s.get("status") in ENTITLED]
    if entitled:
        return entitled[0]
    return found[0] if found else None


def _subscription_tier(subscription: dict[str, Any]) -> str | None:
    for item in (subscription.get("items") or {}).get("data", []):
        price = item.get("price") or {}
        tier = tier_for_price(price.get("id", "") if isinstance(price, dict) else "")
        if tier:
            return tier
    return None


def _subscription_period(
    subscription: dict[str, Any],
) -> tuple[datetime | None, datetime | None]:
    # Newer API versions keep the period on the items, older on the subscription.
    items = (subscription.get("items") or {}).get("data", [])
    source = (
        items[0] if items and items[0].get("current_period_start") else subscription
    )
    return (
        _stamp(source.get("current_period_start")),
        _stamp(source.get("current_period_end")),
    )


def _paid_period_start(invoice_id: str) -> datetime | None:
    """Start of the period a paid invoice pays for, re-read from Stripe."""
    invoice = stripe.Invoice.retrieve(invoice_id, api_key=_api_key()).to_dict()
    if invoice.get("status") != "paid":
        return None
    starts = [
        line["period"]["start"]
        for line in (invoice.get("lines") or {}).get("data", [])
        if line.get("period") and line["period"].get("start")
    ]
    return _stamp(max(starts)) if starts else _stamp(invoice.get("period_end"))


def _target_state(
    organization: Organization, subscription: dict[str, Any] | None
) -> dict[str, Any]:
    """The billing columns that match Stripe's view of the subscription."""
    entitled = subscription is not None and subscription.get("status") in ENTITLED
    tier = _subscription_tier(subscription) if subscription and entitled else None
    if entitled and tier is None:
        # A price this server does not sell: keep the plan, log for staff.
        logger.warning(
            "subscription %s of %s has no configured price; plan kept",
            subscription["id"] if subscription else "",
            organization.pk,
        )
        tier = organization.plan_tier
    tier = tier or PlanTier.FREE

    if subscription is None:
        status = SubscriptionStatus.ACTIVE
        period: tuple[datetime | None, datetime | None] = (None, None)
    else:
        status = STATUS_MAP.get(
            str(subscription.get("status")), SubscriptionStatus.CANCELED
        )
        period = _subscription_period(subscription) if entitled else (None, None)

    state: dict[str, Any] = {
        "plan_tier": tier,
        "subscription_status": status,
        "stripe_subscription_id": subscription["id"] if subscription else "",
        "current_period_start": period[0],
        "current_period_end": period[1],
        "trial_ends_at": (
            _stamp(subscription.get("trial_end")) if subscription and entitled else None
        ),
    }
    if not entitled:
        # Back on the calendar month until a paid invoice starts a period.
        state["usage_period_start"] = None
    if not organization.custom_limits:
        state.update(
            {f"max_{name}": value for name, value in plan_get(tier).limits().items()}
        )
    return state


def _grace(organization: Organization, state: dict[str, Any]) -> dict[str, Any]:
    """Start a grace period when the new limits are tighter than the old ones."""
    old = organization_limits(organization)
    new = {name: state.get(f"max_{name}", old[name]) for name in LIMIT_NAMES}
    if is_lower(new, old) and TIER_RANK.get(state["plan_tier"], 0) <= TIER_RANK.get(
        organization.plan_tier, 0
    ):
        days = int(settings.ATRIUM_BILLING_GRACE_DAYS)
        return {
            "grace_ends_at": timezone.now() + timedelta(days=days),
            "grace_limits": old,
        }
    if not is_lower(new, old) and new != old:
        return {"grace_ends_at": None, "grace_limits": {}}
    return {}


def _normalise(value: Any) -> Any:
    return value.replace(microsecond=0) if isinstance(value, datetime) else value


def organization_billing_sync(
    *, organization_id: uuid.UUID, source: str, paid_invoice_id: str = ""
) -> dict[str, Any]:
    """Set an organization's plan, status, period and limits to Stripe's state.

    Idempotent: the state is read from Stripe each time and only differences
    are written, so a replayed, duplicated or out-of-order event changes
    nothing more. A paid invoice also moves the monthly usage window forward
    to the period it pays for (never backward), which resets the monthly
    request counter once per paid period. Returns the columns changed.
    """
    with transaction.atomic():
        organization = _locked(organization_id)
        if organization is None or not organization.stripe_customer_id:
            return {}
        subscription = _current_subscription(organization.stripe_customer_id)
        state = _target_state(organization, subscription)
        if paid_invoice_id and state["plan_tier"] != PlanTier.FREE:
            paid_start = _paid_period_start(paid_invoice_id)
            current = organization.usage_period_start
            if paid_start is not None and (current is None or paid_start > current):
                state["usage_period_start"] = paid_start
                state["monthly_requests"] = 0

        changes = {
            name: value
            for name, value in state.items()
            if _normalise(getattr(organization, name)) != _normalise(value)
        }
        if "plan_tier" in changes or any(n.startswith("max_") for n in changes):
            changes.update(_grace(organization, state))
        if changes:
            _write(organization.pk, changes, source)
            logger.info(
                "billing state of %s changed by %s: %s",
                organization.pk,
                source,
                sorted(changes),
            )
        return changes


def billing_reconcile() -> dict[str, int]:
    """Compare every organization with a Stripe customer to Stripe; fix drift.

    Each organization is synced in its own transaction; one that fails (Stripe
    unreachable, say) is logged and the others go on.
    """
    checked = drifted = failed = 0
    for organization_id in organization_ids_with_customers():
        checked += 1
        try:
            if organization_billing_sync(
                organization_id=organization_id, source="reconcile"
            ):
                drifted += 1
        except stripe.StripeError as error:
            failed += 1
            logger.warning(
                "reconciling %s failed: %s", organization_id, type(error).__name__
            )
    logger.info(
        "billing reconciliation: %d checked, %d fixed, %d failed",
        checked,
        drifted,
        failed,
    )
    return {"checked": checked, "fixed": drifted, "failed": failed}
