"""Each plan's limits, applied by a plan change and enforced where they bite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.services import agent_create
from billing.models import Plan
from billing.plans import DEFAULT_PLANS
from billing.services import plan_update
from knowledge.bulk import documents_quota_check
from knowledge.models import Document
from tenancy import quotas, ratelimit, services
from tenancy.context import as_user, as_workspace
from tenancy.errors import PlanLimitExceeded
from tenancy.models import Organization
from tests.api.conftest import user_api
from tests.billing.test_webhooks import org_of, paying_tenant
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

PRICES = {"starter": "price_starter_test", "pro": "price_pro_test"}


def _on_plan(tier, webhooks, stripe_server):
    """An organization put on ``tier`` the way production does: by a webhook."""
    tenant, customer = paying_tenant(stripe_server, tier)
    if tier != "free":
        sub = stripe_server.subscription_add(customer, price=PRICES[tier])
        webhooks.send("customer.subscription.created", sub)
    return tenant


@pytest.mark.parametrize("tier", ["free", "starter", "pro"])
def test_workspaces_per_plan(tier, webhooks, stripe_server):
    tenant = _on_plan(tier, webhooks, stripe_server)
    maximum = DEFAULT_PLANS[tier]["max_workspaces"]
    org = org_of(tenant)
    assert org.max_workspaces == maximum

    with as_user(tenant.owner.pk):
        for n in range(maximum - 1):  # make_tenant made the first
            services.workspace_create(organization=org, name=f"W{n}")
        with pytest.raises(PlanLimitExceeded) as refused:
            services.workspace_create(organization=org, name="One too many")

    assert refused.value.details == {
        "limit": "workspaces",
        "maximum": maximum,
        "current": maximum,
        "plan": tier,
    }


@pytest.mark.parametrize("tier", ["free", "starter", "pro"])
def test_agents_per_workspace_per_plan(tier, webhooks, stripe_server):
    tenant = _on_plan(tier, webhooks, stripe_server)
    maximum = DEFAULT_PLANS[tier]["max_agents_per_workspace"]

    with as_user(tenant.owner.pk):
        for n in range(maximum):
            agent_create(workspace=tenant.workspace, name=f"Agent {n}")
        with pytest.raises(PlanLimitExceeded):
            agent_create(workspace=tenant.workspace, name="One too many")


@pytest.mark.parametrize("tier", ["free", "starter", "pro"])
def test_documents_per_workspace_per_plan(tier, webhooks, stripe_server):
    tenant = _on_plan(tier, webhooks, stripe_server)
    maximum = DEFAULT_PLANS[tier]["max_documents_per_workspace"]

    with as_workspace(tenant.workspace.pk):
        Document.objects.bulk_create(
            Document(workspace=tenant.workspace, title=f"d{n}", content="x")
            for n in range(maximum - 1)
        )
        documents_quota_check(workspace=tenant.workspace)  # the last slot
        Document.objects.create(workspace=tenant.workspace, title="last", content="x")
        with pytest.raises(PlanLimitExceeded):
            documents_quota_check(workspace=tenant.workspace)


@pytest.mark.parametrize("tier", ["free", "starter", "pro"])
def test_monthly_requests_per_plan(tier, webhooks, stripe_server):
    tenant = _on_plan(tier, webhooks, stripe_server)
    maximum = DEFAULT_PLANS[tier]["max_monthly_requests"]
    org = org_of(tenant)
    # As if maximum - 1 requests had been made this period.
    ratelimit.client().set(quotas._counter_key(org, is_test=False), maximum - 1)
    api = user_api(tenant.owner)
    url = f"/v1/workspaces/{tenant.workspace.pk}"

    last, refused = api.get(url), api.get(url)

    assert last.status_code == 200
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "monthly_request_limit_exceeded"


def test_enterprise_is_unlimited(db):
    from tests.support.tenants import make_tenant

    tenant = make_tenant(
        "ent",
        plan_tier="enterprise",
        max_workspaces=None,
        max_documents_per_workspace=None,
        max_monthly_requests=None,
        max_agents_per_workspace=None,
    )
    org = org_of(tenant)
    for limit in ("workspaces", "agents_per_workspace", "documents_per_workspace"):
        quotas.check_limit(org, limit=limit, current=10**9)
    for _ in range(50):
        quotas.monthly_request_count(org, is_test=False)


def test_grace_keeps_the_previous_limits_until_it_ends(webhooks, stripe_server):
    tenant = _on_plan("pro", webhooks, stripe_server)
    org = org_of(tenant)
    with as_user(tenant.owner.pk):
        services.workspace_create(organization=org, name="Second")
    sub_id = org.stripe_subscription_id
    webhooks.send(
        "customer.subscription.deleted",
        stripe_server.subscription_set(sub_id, status="canceled"),
    )
    org = org_of(tenant)
    assert org.plan_tier == "free" and quotas.in_grace(org)

    with as_user(tenant.owner.pk):
        services.workspace_create(organization=org, name="Third, in grace")
    api = user_api(tenant.owner)
    shown = api.get(f"/v1/organizations/{org.pk}/billing").json()
    assert shown["grace"]["active"] and shown["over_limits"] == ["workspaces"]
    assert shown["grace"]["ends_at"]

    with as_user(tenant.owner.pk):
        Organization.objects.filter(pk=org.pk).update(
            grace_ends_at=timezone.now() - timedelta(seconds=1)
        )
        with pytest.raises(PlanLimitExceeded):
            services.workspace_create(organization=org_of(tenant), name="Fourth")
    after = api.get(f"/v1/organizations/{org.pk}/billing").json()
    assert after["grace"]["active"] is False and after["limits"]["workspaces"] == 1


def test_an_upgrade_ends_the_grace_period(webhooks, stripe_server):
    tenant = _on_plan("pro", webhooks, stripe_server)
    sub_id = org_of(tenant).stripe_subscription_id
    webhooks.send(
        "customer.subscription.updated",
        stripe_server.subscription_set(sub_id, price="price_starter_test"),
    )
    assert quotas.in_grace(org_of(tenant))

    webhooks.send(
        "customer.subscription.updated",
        stripe_server.subscription_set(sub_id, price="price_pro_test"),
    )

    org = org_of(tenant)
    assert org.plan_tier == "pro" and org.grace_ends_at is None


def test_staff_edit_a_plan_and_its_organizations_follow(db):
    from tests.support.tenants import make_tenant

    staff = make_user("staff", is_staff=True)
    on_starter = make_tenant("st", plan_tier="starter", max_workspaces=3)
    custom = make_tenant("cu", plan_tier="starter", max_workspaces=7)
    on_pro = make_tenant("pr", plan_tier="pro", max_workspaces=10)
    with as_user(custom.owner.pk):
        Organization.objects.filter(pk=custom.organization.pk).update(
            custom_limits=True
        )

    with as_user(staff.pk):
        plan = Plan.objects.create(tier="starter", **DEFAULT_PLANS["starter"])
        changed = plan_update(plan=plan, fields={"max_workspaces": 4})

    assert changed == [on_starter.organization.pk]
    assert org_of(on_starter).max_workspaces == 4
    assert org_of(custom).max_workspaces == 7
    assert org_of(on_pro).max_workspaces == 10
