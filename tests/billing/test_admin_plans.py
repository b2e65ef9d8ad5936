"""Staff change a plan in the admin, without a deploy; organizations follow."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from django.test import Client

from billing.models import Plan
from billing.plans import DEFAULT_PLANS
from tests.billing.test_webhooks import org_of
from tests.support.tenants import make_tenant, make_user

pytestmark = pytest.mark.django_db


def test_staff_raise_a_plans_limit_in_the_admin():
    tenant = make_tenant("adm", plan_tier="starter", max_workspaces=3)
    plan = Plan.objects.create(tier="starter", **DEFAULT_PLANS["starter"])
    staff = Client()
    staff.force_login(make_user("staff", is_staff=True, is_superuser=True))
    form = {
        "tier": "starter",
        "name": "Starter",
        "price_monthly_usd": "29.00",
        "max_workspaces": "5",
        "max_documents_per_workspace": "500",
        "max_monthly_requests": "10000",
        "max_agents_per_workspace": "5",
    }

    response = staff.post(f"/admin/billing/plan/{plan.pk}/change/", form)

    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    plan.refresh_from_db()
    assert plan.max_workspaces == 5
    assert org_of(tenant).max_workspaces == 5


def test_customers_cannot_reach_the_plan_admin(tenant_a):
    client = Client()
    client.force_login(tenant_a.owner)
    response = client.get("/admin/billing/plan/")
    assert response.status_code == HTTPStatus.FOUND  # to the staff login
