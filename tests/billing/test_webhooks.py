"""Stripe webhooks: signatures, each event path, replays, ordering."""

from __future__ import annotations

import pytest

from tenancy.context import as_user
from tenancy.models import Organization
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db


def _paying_tenant(stripe_server):
    tenant = make_tenant("pay", plan_tier="free", max_workspaces=1,
                         max_documents_per_workspace=50, max_monthly_requests=1000,
                         max_agents_per_workspace=2)
    customer = stripe_server.customer_add()
    with as_user(tenant.owner.pk):
        Organization.objects.filter(pk=tenant.organization.pk).update(
            stripe_customer_id=customer["id"]
        )
    return tenant, customer["id"]


def _org(tenant):
    with as_user(tenant.owner.pk):
        return Organization.objects.get(pk=tenant.organization.pk)


def test_subscription_created_upgrades_the_plan(webhooks, stripe_server):
    tenant, customer = _paying_tenant(stripe_server)
    sub = stripe_server.subscription_add(customer, price="price_pro_test")
    response = webhooks.send("customer.subscription.created", sub)
    print(stripe_server.unknown, response.content[:500])
    assert response.status_code == 200
    org = _org(tenant)
    assert org.plan_tier == "pro"
    assert org.max_workspaces == 10
