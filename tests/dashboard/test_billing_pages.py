"""The usage and billing page: plan, meters, grace, Checkout, portal, invoices."""

# Fixtures imported from other conftest modules are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenancy.context import as_user
from tenancy.models import AuditLog, Organization
from tests.api.conftest import world  # noqa: F401  (fixture)
from tests.billing.conftest import stripe_server, webhooks  # noqa: F401
from tests.billing.test_webhooks import paying_tenant
from tests.dashboard.test_settings_support import (
    ORGANIZATION_PERSONAS,
    browser,
    html,
    strict_templates,  # noqa: F401  (fixture)
)
from tests.support.tenants import make_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]


def _url(organization, suffix: str = "billing/") -> str:
    return f"/app/organizations/{organization.pk}/{suffix}"


def _org(world, organization) -> Organization:
    with as_user(world.users["owner"].pk):
        return Organization.objects.get(pk=organization.pk)


@pytest.mark.parametrize(("persona", "role"), ORGANIZATION_PERSONAS.items())
def test_every_role_sees_the_plan_and_owners_and_admins_see_usage(
    world, stripe_server, persona, role
):
    page = html(browser(world, persona).get(_url(world.org_a)))

    assert "Pro" in page and "Active" in page
    if role in ("owner", "admin"):
        assert "Usage against limits" in page and "Invoices" in page
        assert "Requests this period" in page and "of 100,000" in page
        assert "Workspace A2" in page  # documents and agents per workspace
    else:
        assert "Usage against limits" not in page and "Invoices" not in page
        assert "shown to the organization\u2019s owners and admins" in page
    # Checkout and the portal are the owner's, as in the API.
    assert "Upgrade to Enterprise" not in page
    assert ("Only the organization\u2019s owners can change its plan." in page) is (
        role != "owner"
    )


def test_the_free_plans_owner_can_upgrade_to_each_sold_plan(world, stripe_server):
    tenant = make_tenant("buyer", plan_tier="free", max_workspaces=1)
    client = browser(world, "owner")
    client.force_login(tenant.owner)

    page = html(client.get(_url(tenant.organization)))

    assert "Upgrade to Starter" in page and "Upgrade to Pro" in page
    assert "Talk to us for this plan." in page  # enterprise has no price
    assert 'name="plan" value="starter"' in page


@pytest.mark.parametrize("persona", ["outsider", "newcomer"])
def test_people_outside_the_organization_get_404(world, stripe_server, persona):
    client = browser(world, persona)

    assert client.get(_url(world.org_a)).status_code == 404
    for suffix in ("billing/checkout/", "billing/portal/"):
        response = client.post(_url(world.org_a, suffix), {"plan": "pro"})
        assert response.status_code == 404
    assert stripe_server.requests == []


def test_another_organizations_billing_is_404_even_for_an_owner(world, stripe_server):
    client = browser(world, "owner")

    assert client.get(_url(world.org_b)).status_code == 404
    checkout = client.post(_url(world.org_b, "billing/checkout/"), {"plan": "pro"})
    portal = client.post(_url(world.org_b, "billing/portal/"))

    assert checkout.status_code == 404 and portal.status_code == 404
    assert stripe_server.requests == []
    with as_user(world.users["outsider"].pk):
        assert not Organization.objects.get(pk=world.org_b.pk).stripe_customer_id


def test_checkout_sends_the_owner_to_stripe(world, stripe_server):
    tenant = make_tenant("buyer", plan_tier="free", max_workspaces=1)
    client = browser(world, "owner")
    client.force_login(tenant.owner)

    response = client.post(
        _url(tenant.organization, "billing/checkout/"), {"plan": "starter"}
    )

    assert response.status_code == 303
    assert response["Location"].startswith("https://checkout.stripe.test/")
    [session] = [r for r in stripe_server.requests if r.path == "/v1/checkout/sessions"]
    assert session.params["line_items[0][price]"] == "price_starter_test"
    assert session.params["client_reference_id"] == str(tenant.organization.pk)
    with as_user(tenant.owner.pk):
        assert AuditLog.objects.filter(
            organization_id=tenant.organization.pk, action="billing.checkout_started"
        ).exists()


def test_the_portal_sends_the_owner_to_stripe(world, stripe_server):
    response = browser(world, "owner").post(_url(world.org_a, "billing/portal/"))

    assert response.status_code == 303
    assert response["Location"].startswith("https://billing.stripe.test/")
    [portal] = [
        r for r in stripe_server.requests if r.path == "/v1/billing_portal/sessions"
    ]
    assert portal.params["customer"] == _org(world, world.org_a).stripe_customer_id


@pytest.mark.parametrize("persona", ["org_admin", "org_member", "ws_viewer"])
def test_only_owners_open_checkout_or_the_portal(world, stripe_server, persona):
    client = browser(world, persona)

    checkout = client.post(_url(world.org_a, "billing/checkout/"), {"plan": "pro"})
    portal = client.post(_url(world.org_a, "billing/portal/"))

    assert checkout.status_code == 403 and portal.status_code == 403
    assert stripe_server.requests == []


def test_a_plan_that_cannot_be_bought_comes_back_with_the_reason(world, stripe_server):
    client = browser(world, "owner")

    unknown = client.post(_url(world.org_a, "billing/checkout/"), {"plan": "gold"})
    enterprise = client.post(
        _url(world.org_a, "billing/checkout/"), {"plan": "enterprise"}
    )

    assert unknown.status_code == 302 and enterprise.status_code == 302
    page = html(client.get(_url(world.org_a)))
    assert "Choose a plan to upgrade to." in page
    assert "cannot be bought through Checkout" in page
    assert [r for r in stripe_server.requests if "checkout" in r.path] == []


def test_without_stripe_the_page_says_billing_is_not_configured(world, settings):
    settings.STRIPE_TEST_SECRET_KEY = ""
    settings.STRIPE_LIVE_SECRET_KEY = ""
    settings.ATRIUM_STRIPE_PRICES = {"starter": "price_s", "pro": "price_p"}
    tenant = make_tenant("buyer", plan_tier="free", max_workspaces=1)
    client = browser(world, "owner")
    client.force_login(tenant.owner)

    response = client.post(_url(tenant.organization, "billing/portal/"))

    assert response.status_code == 302
    assert "Billing is not configured on this server." in html(
        client.get(response["Location"])
    )


def test_the_page_lets_its_forms_go_on_to_stripe(world, stripe_server):
    response = browser(world, "owner").get(_url(world.org_a))
    policy = response["Content-Security-Policy"]

    form_action = next(
        part for part in policy.split(";") if "form-action" in part
    ).split()
    assert "'self'" in form_action
    assert "https://checkout.stripe.com" in form_action
    assert "https://billing.stripe.com" in form_action
    assert "script-src 'self'" in policy


def test_over_the_limits_in_grace_the_page_warns_with_the_date(world, stripe_server):
    ends = timezone.now() + timedelta(days=3)
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(
            plan_tier="free",
            max_workspaces=1,
            grace_ends_at=ends,
            grace_limits={"workspaces": 10},
        )

    page = html(browser(world, "org_admin").get(_url(world.org_a)))

    assert "over its plan\u2019s limits" in page
    assert "Over the limit: Workspaces." in page
    assert ends.strftime("%b") in page and f'datetime="{ends:%Y-%m-%d}' in page
    assert "meter--danger" not in page  # the grace limit (10) is in force


def test_meters_warn_near_and_at_the_limit(world, stripe_server):
    with as_user(world.users["owner"].pk):
        Organization.objects.filter(pk=world.org_a.pk).update(
            max_workspaces=2, max_agents_per_workspace=1
        )

    page = html(browser(world, "owner").get(_url(world.org_a)))

    assert page.count("meter--danger") == 2  # 2 of 2 workspaces, 1 of 1 agent
    assert 'max="2" value="2"' in page


def test_paid_invoices_are_listed(world, webhooks, stripe_server):
    tenant, customer = paying_tenant(stripe_server)
    sub = stripe_server.subscription_add(customer, price="price_pro_test")
    webhooks.send("customer.subscription.created", sub)
    invoice = stripe_server.invoice_add(customer, sub["id"], amount=9900)
    webhooks.send("invoice.payment_succeeded", invoice)
    client = browser(world, "owner")
    client.force_login(tenant.owner)

    page = html(client.get(_url(tenant.organization)))

    assert invoice["number"] in page and "99.00 USD" in page
    assert f'href="{invoice["hosted_invoice_url"]}"' in page
    assert "Manage payment" in page
    assert "Change your subscription under “Manage payment”." in page
