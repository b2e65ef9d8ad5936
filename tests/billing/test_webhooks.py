"""Stripe webhooks: signatures, each event path, replays, ordering."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.test import Client
from djstripe.models import Event, WebhookEventTrigger

from tenancy import quotas
from tenancy.context import as_user
from tenancy.models import AuditLog, Organization
from tests.support.stripe_server import sign, webhook_secret
from tests.support.tenants import make_tenant

FREE = {
    "plan_tier": "free",
    "max_workspaces": 1,
    "max_documents_per_workspace": 50,
    "max_monthly_requests": 1000,
    "max_agents_per_workspace": 2,
}


def paying_tenant(stripe_server, label="pay"):
    tenant = make_tenant(label, **FREE)
    customer = stripe_server.customer_add()
    with as_user(tenant.owner.pk):
        Organization.objects.filter(pk=tenant.organization.pk).update(
            stripe_customer_id=customer["id"]
        )
    return tenant, customer["id"]


def org_of(tenant) -> Organization:
    with as_user(tenant.owner.pk):
        return Organization.objects.get(pk=tenant.organization.pk)


def billing_changes(tenant) -> int:
    with as_user(tenant.owner.pk):
        return AuditLog.objects.filter(
            organization_id=tenant.organization.pk,
            action="organization.billing_changed",
        ).count()


@pytest.mark.django_db
class TestEventPaths:
    def test_subscription_created_sets_plan_status_period_and_limits(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")

        response = webhooks.send("customer.subscription.created", sub)

        assert response.status_code == 200
        org = org_of(tenant)
        assert (org.plan_tier, org.subscription_status) == ("pro", "active")
        assert org.stripe_subscription_id == sub["id"]
        assert int(org.current_period_end.timestamp()) == sub["current_period_end"]
        assert (
            org.max_workspaces,
            org.max_documents_per_workspace,
            org.max_monthly_requests,
            org.max_agents_per_workspace,
        ) == (10, 5000, 100_000, 20)
        assert stripe_server.unknown == []

    def test_subscription_updated_to_a_cheaper_plan_starts_a_grace_period(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", sub)

        sub = stripe_server.subscription_set(sub["id"], price="price_starter_test")
        assert webhooks.send("customer.subscription.updated", sub).status_code == 200

        org = org_of(tenant)
        assert org.plan_tier == "starter" and org.max_workspaces == 3
        assert org.grace_ends_at is not None and quotas.in_grace(org)
        assert org.grace_limits["workspaces"] == 10
        assert quotas.limit_for(org, "workspaces") == 10

    def test_subscription_deleted_downgrades_to_free(self, webhooks, stripe_server):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_starter_test")
        webhooks.send("customer.subscription.created", sub)

        sub = stripe_server.subscription_set(sub["id"], status="canceled")
        assert webhooks.send("customer.subscription.deleted", sub).status_code == 200

        org = org_of(tenant)
        assert (org.plan_tier, org.subscription_status) == ("free", "canceled")
        assert (org.max_workspaces, org.max_monthly_requests) == (1, 1000)
        assert org.usage_period_start is None
        assert org.grace_limits["workspaces"] == 3

    def test_invoice_payment_succeeded_resets_monthly_usage(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", sub)
        first = stripe_server.invoice_add(customer, sub["id"])
        webhooks.send("invoice.payment_succeeded", first)
        org = org_of(tenant)
        for _ in range(7):
            quotas.monthly_request_count(org, is_test=False)
        assert quotas.monthly_requests_used(org) == 7

        renewal = sub["current_period_end"]
        stripe_server.subscription_set(
            sub["id"],
            current_period_start=renewal,
            current_period_end=renewal + 30 * 86400,
        )
        # The renewal is in the future here; the paid period starts now.
        paid = stripe_server.invoice_add(
            customer, sub["id"], period_start=int(time.time())
        )
        assert webhooks.send("invoice.payment_succeeded", paid).status_code == 200

        org = org_of(tenant)
        assert (
            int(org.usage_period_start.timestamp())
            == paid["lines"]["data"][0]["period"]["start"]
        )
        assert quotas.monthly_requests_used(org) == 0

    def test_an_older_paid_invoice_never_moves_the_window_back(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", sub)
        now = int(time.time())
        newer = stripe_server.invoice_add(customer, sub["id"], period_start=now - 10)
        older = stripe_server.invoice_add(customer, sub["id"], period_start=now - 86400)

        webhooks.send("invoice.paid", newer)
        webhooks.send("invoice.paid", older)

        assert int(org_of(tenant).usage_period_start.timestamp()) == now - 10

    def test_invoice_payment_failed_marks_past_due_and_keeps_the_plan(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", sub)

        stripe_server.subscription_set(sub["id"], status="past_due")
        invoice = stripe_server.invoice_add(customer, sub["id"], status="open")
        assert webhooks.send("invoice.payment_failed", invoice).status_code == 200

        org = org_of(tenant)
        assert (org.plan_tier, org.subscription_status) == ("pro", "past_due")
        assert org.usage_period_start is None  # an unpaid invoice resets nothing

    def test_an_event_for_an_unknown_customer_changes_nothing(
        self, webhooks, stripe_server
    ):
        tenant, _customer = paying_tenant(stripe_server)
        stranger = stripe_server.customer_add()
        sub = stripe_server.subscription_add(stranger["id"], price="price_pro_test")

        assert webhooks.send("customer.subscription.created", sub).status_code == 200
        assert org_of(tenant).plan_tier == "free"


@pytest.mark.django_db
class TestReplayAndOrder:
    def test_the_same_event_three_times_has_one_effect(self, webhooks, stripe_server):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", sub)
        invoice = stripe_server.invoice_add(customer, sub["id"])
        event = stripe_server.event("invoice.payment_succeeded", invoice)
        before = billing_changes(tenant)

        statuses = [webhooks.post(event).status_code for _ in range(3)]

        assert statuses == [200, 200, 200]
        assert Event.objects.filter(id=event["id"]).count() == 1
        assert billing_changes(tenant) == before + 1

    def test_a_second_event_about_the_same_invoice_changes_nothing_more(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", sub)
        invoice = stripe_server.invoice_add(customer, sub["id"])
        webhooks.send("invoice.paid", invoice)
        org = org_of(tenant)
        quotas.monthly_request_count(org, is_test=False)
        before = billing_changes(tenant)

        webhooks.send("invoice.payment_succeeded", invoice)

        assert billing_changes(tenant) == before
        assert quotas.monthly_requests_used(org_of(tenant)) == 1

    def test_deleted_before_updated_ends_in_stripes_state(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_starter_test")
        created = stripe_server.event("customer.subscription.created", sub)
        updated = stripe_server.event(
            "customer.subscription.updated",
            stripe_server.subscription_set(sub["id"], price="price_pro_test"),
        )
        deleted = stripe_server.event(
            "customer.subscription.deleted",
            stripe_server.subscription_set(sub["id"], status="canceled"),
        )

        for event in (deleted, created, updated):  # the worst order
            assert webhooks.post(event).status_code == 200

        org = org_of(tenant)
        assert (org.plan_tier, org.subscription_status) == ("free", "canceled")

    def test_a_stale_cancellation_does_not_undo_a_newer_subscription(
        self, webhooks, stripe_server
    ):
        tenant, customer = paying_tenant(stripe_server)
        old = stripe_server.subscription_add(
            customer, price="price_starter_test", created=int(time.time()) - 100
        )
        old_deleted = stripe_server.event(
            "customer.subscription.deleted",
            stripe_server.subscription_set(old["id"], status="canceled"),
        )
        new = stripe_server.subscription_add(customer, price="price_pro_test")
        webhooks.send("customer.subscription.created", new)

        assert webhooks.post(old_deleted).status_code == 200

        org = org_of(tenant)
        assert (org.plan_tier, org.stripe_subscription_id) == ("pro", new["id"])


@pytest.mark.django_db
class TestSignatures:
    def _setup(self, stripe_server):
        tenant, customer = paying_tenant(stripe_server)
        sub = stripe_server.subscription_add(customer, price="price_pro_test")
        return tenant, stripe_server.event("customer.subscription.created", sub)

    def test_a_tampered_body_is_rejected(self, webhooks, stripe_server):
        tenant, event = self._setup(stripe_server)
        signed = json.dumps(event).encode()
        tampered = signed.replace(b'"livemode": false', b'"livemode": true ')
        response = Client().post(
            webhooks.url,
            data=tampered,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(signed, webhooks.secret),
        )

        assert response.status_code == 400
        assert not Event.objects.filter(id=event["id"]).exists()
        assert org_of(tenant).plan_tier == "free"

    def test_a_stale_signature_is_rejected(self, webhooks, stripe_server):
        tenant, event = self._setup(stripe_server)

        response = webhooks.post(event, timestamp=int(time.time()) - 301)

        assert response.status_code == 400
        assert not Event.objects.filter(id=event["id"]).exists()
        assert org_of(tenant).plan_tier == "free"

    def test_another_secret_is_rejected(self, webhooks, stripe_server):
        tenant, event = self._setup(stripe_server)

        response = webhooks.post(event, secret=webhook_secret())

        assert response.status_code == 400
        assert org_of(tenant).plan_tier == "free"

    def test_the_debug_secret_override_header_is_ignored(
        self, webhooks, stripe_server, settings
    ):
        assert settings.DEBUG is False
        tenant, event = self._setup(stripe_server)
        forged = webhook_secret()

        response = webhooks.post(
            event, secret=forged, headers={"X-Djstripe-Webhook-Secret": forged}
        )

        assert response.status_code == 400
        assert org_of(tenant).plan_tier == "free"

    def test_a_missing_signature_is_rejected_and_not_stored(self, webhooks):
        before = WebhookEventTrigger.objects.count()

        response = Client().post(
            webhooks.url, data=b"{}", content_type="application/json"
        )

        assert response.status_code == 400
        assert WebhookEventTrigger.objects.count() == before

    def test_an_unknown_endpoint_is_not_found(self, webhooks, stripe_server):
        _tenant, event = self._setup(stripe_server)
        url = "/stripe/webhook/00000000-0000-4000-8000-000000000000/"
        body = json.dumps(event).encode()
        response = Client().post(
            url,
            data=body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign(body, webhooks.secret),
        )
        assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_concurrently_has_one_effect(webhooks, stripe_server):
    tenant, customer = paying_tenant(stripe_server)
    sub = stripe_server.subscription_add(customer, price="price_pro_test")
    webhooks.send("customer.subscription.created", sub)
    invoice = stripe_server.invoice_add(customer, sub["id"])
    event = stripe_server.event("invoice.payment_succeeded", invoice)
    before = billing_changes(tenant)
    barrier = threading.Barrier(3)
    statuses: list[int] = []

    def deliver() -> None:
        from django.db import connection

        try:
            barrier.wait()
            statuses.append(webhooks.post(event).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 200, 200]
    assert Event.objects.filter(id=event["id"]).count() == 1
    assert billing_changes(tenant) == before + 1


@pytest.mark.django_db
def test_paid_invoices_are_listed_in_billing(webhooks, stripe_server):
    from tests.api.conftest import user_api

    tenant, customer = paying_tenant(stripe_server)
    sub = stripe_server.subscription_add(customer, price="price_pro_test")
    webhooks.send("customer.subscription.created", sub)
    invoice = stripe_server.invoice_add(customer, sub["id"], amount=9900)
    webhooks.send("invoice.payment_succeeded", invoice)

    body = (
        user_api(tenant.owner)
        .get(f"/v1/organizations/{tenant.organization.pk}/billing")
        .json()
    )

    assert body["plan"]["tier"] == "pro" and body["has_payment_account"] is True
    [listed] = body["invoices"]
    assert (listed["id"], listed["status"], listed["amount_paid"]) == (
        invoice["id"],
        "paid",
        9900,
    )
    assert stripe_server.unknown == []
