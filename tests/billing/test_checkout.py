"""Checkout and the customer portal, through the SDK against a local Stripe."""

from __future__ import annotations

import pytest

from tenancy.context import as_user
from tenancy.models import AuditLog, Organization
from tests.api.conftest import Api, user_api
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(db):
    return make_tenant("buyer", plan_tier="free", max_workspaces=1)


def _org(tenant) -> Organization:
    with as_user(tenant.owner.pk):
        return Organization.objects.get(pk=tenant.organization.pk)


def _checkout(api: Api, tenant, plan="pro"):
    return api.post(
        f"/v1/organizations/{tenant.organization.pk}/billing/checkout", {"plan": plan}
    )


def test_checkout_creates_the_customer_once_and_opens_a_session(
    stripe_server, owner, settings
):
    api = user_api(owner.owner)

    first = _checkout(api, owner)
    second = _checkout(api, owner, plan="starter")

    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["url"].startswith("https://checkout.stripe.test/")
    customers = [r for r in stripe_server.requests if r.path == "/v1/customers"]
    assert len(customers) == 1
    assert customers[0].params["metadata[atrium_organization_id]"] == str(
        owner.organization.pk
    )
    assert customers[0].headers.get("Idempotency-Key") == (
        f"atrium-customer-{owner.organization.pk}"
    )
    org = _org(owner)
    assert org.stripe_customer_id.startswith("cus_")
    sessions = [r for r in stripe_server.requests if r.path == "/v1/checkout/sessions"]
    assert [s.params["line_items[0][price]"] for s in sessions] == [
        "price_pro_test",
        "price_starter_test",
    ]
    assert {s.params["customer"] for s in sessions} == {org.stripe_customer_id}
    assert sessions[0].params["mode"] == "subscription"
    assert sessions[0].params["client_reference_id"] == str(owner.organization.pk)
    assert sessions[0].params["success_url"] == settings.ATRIUM_BILLING_RETURN_URL
    assert all(
        r.headers["Authorization"].startswith("Bearer sk_test_") for r in sessions
    )
    with as_user(owner.owner.pk):
        actions = set(
            AuditLog.objects.filter(organization_id=owner.organization.pk).values_list(
                "action", flat=True
            )
        )
    assert {"billing.customer_created", "billing.checkout_started"} <= actions


def test_the_portal_opens_for_the_organizations_customer(stripe_server, owner):
    response = user_api(owner.owner).post(
        f"/v1/organizations/{owner.organization.pk}/billing/portal", {}
    )

    assert response.status_code == 201
    assert response.json()["url"].startswith("https://billing.stripe.test/")
    [portal] = [
        r for r in stripe_server.requests if r.path == "/v1/billing_portal/sessions"
    ]
    assert portal.params["customer"] == _org(owner).stripe_customer_id


@pytest.mark.parametrize("plan", ["enterprise", "free", "platinum"])
def test_plans_not_sold_through_checkout_are_refused(stripe_server, owner, plan):
    response = _checkout(user_api(owner.owner), owner, plan=plan)

    assert response.status_code == 400
    code = response.json()["error"]["code"]
    assert code == (
        "plan_not_purchasable" if plan == "enterprise" else "invalid_request"
    )
    assert stripe_server.requests == []
    assert _org(owner).stripe_customer_id == ""


def test_unknown_fields_are_refused(stripe_server, owner):
    api = user_api(owner.owner)
    url = f"/v1/organizations/{owner.organization.pk}/billing"

    checkout = api.post(f"{url}/checkout", {"plan": "pro", "price": "price_x"})
    portal = api.post(f"{url}/portal", {"return_url": "https://evil.example"})

    assert checkout.status_code == 400 and portal.status_code == 400
    assert stripe_server.requests == []


def test_a_subscribed_organization_changes_plan_in_the_portal(stripe_server, owner):
    with as_user(owner.owner.pk):
        Organization.objects.filter(pk=owner.organization.pk).update(
            plan_tier="pro", stripe_subscription_id="sub_existing"
        )
    response = _checkout(user_api(owner.owner), owner, plan="starter")
    assert response.status_code == 409


def test_without_a_stripe_key_billing_is_unavailable(owner, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    settings.ATRIUM_STRIPE_PRICES = {"starter": "price_s", "pro": "price_p"}

    response = _checkout(user_api(owner.owner), owner)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "billing_unavailable"


def test_when_stripe_fails_nothing_is_stored(stripe_server, owner):
    stripe_server._httpd.shutdown()  # Stripe goes away
    stripe_server._httpd.server_close()

    response = _checkout(user_api(owner.owner), owner)

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert "sk_test_" not in response.content.decode()
    assert _org(owner).stripe_customer_id == ""


def test_a_completed_checkout_upgrades_the_organization(stripe_server, webhooks, owner):
    created = _checkout(user_api(owner.owner), owner).json()
    customer = _org(owner).stripe_customer_id
    sub = stripe_server.subscription_add(customer, price="price_pro_test")
    session = stripe_server.checkout_complete(created["id"], sub["id"])

    response = webhooks.send("checkout.session.completed", session)

    assert response.status_code == 200
    org = _org(owner)
    assert (org.plan_tier, org.stripe_subscription_id) == ("pro", sub["id"])
    assert stripe_server.unknown == []
