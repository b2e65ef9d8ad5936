"""Nightly reconciliation: organizations end in Stripe's state."""

from __future__ import annotations

import pytest

from billing import tasks
from tenancy.context import as_user
from tenancy.models import Organization
from tests.billing.test_webhooks import billing_changes, org_of, paying_tenant

pytestmark = pytest.mark.django_db


def _set(tenant, **fields):
    with as_user(tenant.owner.pk):
        Organization.objects.filter(pk=tenant.organization.pk).update(**fields)


def test_reconciliation_fixes_drift_both_ways_and_then_finds_none(stripe_server):
    missed_upgrade, customer_a = paying_tenant(stripe_server, "up")
    stripe_server.subscription_add(customer_a, price="price_starter_test")
    missed_cancel, customer_b = paying_tenant(stripe_server, "down")
    sub = stripe_server.subscription_add(customer_b, price="price_pro_test")
    stripe_server.subscription_set(sub["id"], status="canceled")
    _set(
        missed_cancel,
        plan_tier="pro",
        max_workspaces=10,
        stripe_subscription_id=sub["id"],
    )
    in_sync, _customer_c = paying_tenant(stripe_server, "same")

    first = tasks.billing_reconcile()
    second = tasks.billing_reconcile()

    assert org_of(missed_upgrade).plan_tier == "starter"
    assert org_of(missed_upgrade).max_workspaces == 3
    down = org_of(missed_cancel)
    assert (down.plan_tier, down.subscription_status, down.max_workspaces) == (
        "free",
        "canceled",
        1,
    )
    assert org_of(in_sync).plan_tier == "free"
    assert billing_changes(in_sync) == 0
    assert first["fixed"] == 2 and first["checked"] >= 3
    assert second["fixed"] == 0 and second["failed"] == 0


def test_staff_custom_limits_survive_reconciliation(stripe_server):
    tenant, customer = paying_tenant(stripe_server)
    stripe_server.subscription_add(customer, price="price_pro_test")
    _set(tenant, custom_limits=True, max_workspaces=42)

    tasks.billing_reconcile()

    org = org_of(tenant)
    assert org.plan_tier == "pro" and org.max_workspaces == 42


def test_one_failing_organization_does_not_stop_the_others(stripe_server):
    broken, _ = paying_tenant(stripe_server, "broken")
    _set(broken, stripe_customer_id="cus_missing_at_stripe")
    fine, customer = paying_tenant(stripe_server, "fine")
    stripe_server.subscription_add(customer, price="price_pro_test")
    original = stripe_server.route

    def failing(method, path, params, idem):
        if params.get("customer") == "cus_missing_at_stripe":
            return 500, {"error": {"type": "api_error", "message": "boom"}}
        return original(method, path, params, idem)

    stripe_server.route = failing  # type: ignore[method-assign]

    result = tasks.billing_reconcile()

    assert result["failed"] == 1
    assert org_of(fine).plan_tier == "pro"
    assert org_of(broken).plan_tier == "free"
