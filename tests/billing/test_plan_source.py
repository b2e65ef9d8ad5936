"""Limits come from the stored plans; staff plan moves; the over-limit grace."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from billing.admin import BillingOrganizationAdmin
from billing.models import Plan
from billing.plans import DEFAULT_PLANS
from billing.services import organization_plan_set
from tenancy import quotas, ratelimit
from tenancy.context import as_user
from tenancy.models import AuditLog, Organization
from tests.api.conftest import user_api
from tests.billing.test_webhooks import org_of
from tests.support.tenants import add_workspace, make_tenant, make_user

pytestmark = pytest.mark.django_db


def test_a_new_organization_takes_the_stored_free_plans_limits():
    Plan.objects.create(
        tier="free",
        **{**DEFAULT_PLANS["free"], "max_workspaces": 4, "max_agents_per_workspace": 7},
    )
    owner = make_user("founder")

    response = user_api(owner).post(
        "/v1/organizations", {"name": "Fresh", "contact_email": owner.email}
    )

    assert response.status_code == 201, response.json()
    with as_user(owner.pk):
        organization = Organization.objects.get(pk=response.json()["id"])
    assert organization.max_workspaces == 4
    assert organization.max_agents_per_workspace == 7
    assert (
        organization.max_monthly_requests
        == DEFAULT_PLANS["free"]["max_monthly_requests"]
    )


def test_staff_moving_a_plan_copy_its_limits_and_audit():
    Plan.objects.create(tier="pro", **{**DEFAULT_PLANS["pro"], "max_workspaces": 12})
    tenant = make_tenant("move", plan_tier="free", max_workspaces=1)
    staff = make_user("staff-mover", is_staff=True, is_superuser=True)

    with as_user(staff.pk):
        organization_plan_set(organization=org_of(tenant), plan_tier="pro")
        audit = AuditLog.objects.get(
            action="organization.plan_changed", organization_id=tenant.organization.pk
        )

    moved = org_of(tenant)
    assert (moved.plan_tier, moved.max_workspaces) == ("pro", 12)
    assert moved.grace_ends_at is None
    assert audit.metadata["before"]["workspaces"] == 1
    assert audit.metadata["after"]["workspaces"] == 12
    assert isinstance(admin.site._registry[Organization], BillingOrganizationAdmin)


def test_a_staff_downgrade_starts_the_grace_and_custom_limits_stay(settings):
    settings.ATRIUM_BILLING_GRACE_DAYS = 5
    big = make_tenant("down", plan_tier="pro", max_workspaces=10)
    custom = make_tenant(
        "custom", plan_tier="pro", max_workspaces=42, custom_limits=True
    )
    staff = make_user("staff-down", is_staff=True, is_superuser=True)

    with as_user(staff.pk):
        organization_plan_set(organization=org_of(big), plan_tier="free")
        organization_plan_set(organization=org_of(custom), plan_tier="free")

    down = org_of(big)
    assert down.max_workspaces == DEFAULT_PLANS["free"]["max_workspaces"]
    assert down.grace_limits["workspaces"] == 10
    assert down.grace_ends_at > timezone.now() + timedelta(days=4)
    assert quotas.limit_for(down, "workspaces") == 10
    assert org_of(custom).max_workspaces == 42


def test_past_its_monthly_requests_an_organization_is_served_until_grace_ends(
    settings,
):
    settings.ATRIUM_OVER_LIMIT_GRACE_DAYS = 2
    tenant = make_tenant("over", max_monthly_requests=5)
    organization = org_of(tenant)
    ratelimit.client().set(quotas._counter_key(organization, is_test=False), 5)
    api = user_api(tenant.owner)
    workspace = f"/v1/workspaces/{tenant.workspace.pk}"
    billing = f"/v1/organizations/{organization.pk}/billing"

    served = api.get(workspace)
    during = api.get(billing).json()

    assert served.status_code == 200
    assert during["over_limit"] is True
    [detail] = during["over_limit_details"]
    assert detail["limit"] == "monthly_requests" and detail["refused"] is False
    assert detail["error_code"] == "monthly_request_limit_exceeded"
    ends = quotas.monthly_grace_ends(organization)
    assert ends is not None
    assert timedelta(days=1) < ends - timezone.now() <= timedelta(days=2)
    assert during["grace_ends_at"] is not None
    assert during["plan_tier"] == organization.plan_tier  # older keys stay

    # Three days later the grace is over.
    ratelimit.client().set(
        quotas._grace_key(organization),
        str((timezone.now() - timedelta(days=3)).timestamp()),
    )
    refused = api.get(workspace)
    after = api.get(billing).json()

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "monthly_request_limit_exceeded"
    assert after["over_limit_details"][0]["refused"] is True


def test_an_organization_within_its_limits_is_not_over(settings):
    tenant = make_tenant("within")
    add_workspace(tenant, "Second")

    body = (
        user_api(tenant.owner)
        .get(f"/v1/organizations/{tenant.organization.pk}/billing")
        .json()
    )

    assert body["over_limit"] is False
    assert body["grace_ends_at"] is None and body["over_limit_details"] == []


def _admin_form(organization: Organization, **changes: str) -> dict[str, str]:
    """The organization's admin change form as a browser would post it back."""
    form = {
        "name": organization.name,
        "slug": organization.slug,
        "plan_tier": organization.plan_tier,
        "stripe_customer_id": "",
        "stripe_subscription_id": "",
        "subscription_status": organization.subscription_status,
        "contact_email": organization.contact_email,
        "contact_name": "",
        "settings": "{}",
        "grace_limits": "{}",
        "monthly_requests": "0",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for name in ("workspaces", "documents_per_workspace", "monthly_requests"):
        form[f"max_{name}"] = str(getattr(organization, f"max_{name}"))
    form["max_agents_per_workspace"] = str(organization.max_agents_per_workspace)
    return {**form, **changes}


def test_staff_change_the_plan_tier_in_the_admin():
    Plan.objects.create(
        tier="starter", **{**DEFAULT_PLANS["starter"], "max_agents_per_workspace": 9}
    )
    tenant = make_tenant("admin-move", plan_tier="free", max_workspaces=1)
    staff = Client()
    staff.force_login(make_user("staff-admin", is_staff=True, is_superuser=True))

    response = staff.post(
        f"/admin/tenancy/organization/{tenant.organization.pk}/change/",
        _admin_form(org_of(tenant), plan_tier="starter"),
    )

    assert response.status_code == HTTPStatus.FOUND, response.content[:3000]
    moved = org_of(tenant)
    assert moved.plan_tier == "starter"
    assert moved.max_agents_per_workspace == 9
    assert moved.max_workspaces == DEFAULT_PLANS["starter"]["max_workspaces"]
    with as_user(tenant.owner.pk):
        assert AuditLog.objects.filter(
            action="organization.plan_changed", organization_id=moved.pk
        ).exists()
