"""The billing doors into organizations are as narrow as documented."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection

from billing.subscriptions import (
    organization_for_customer,
    organization_ids_with_customers,
)
from tenancy.context import as_anonymous, as_user
from tenancy.models import AuditLog, Organization

pytestmark = pytest.mark.django_db


def _with_customer(tenant, customer="cus_door_test"):
    with as_user(tenant.owner.pk):
        Organization.objects.filter(pk=tenant.organization.pk).update(
            stripe_customer_id=customer
        )


def test_without_a_principal_organizations_cannot_be_read_or_changed(tenant_a):
    with as_anonymous():
        assert not Organization.objects.filter(pk=tenant_a.organization.pk).exists()
        changed = Organization.objects.filter(pk=tenant_a.organization.pk).update(
            plan_tier="enterprise"
        )
    assert changed == 0


def test_the_customer_door_finds_only_live_organizations(tenant_a, tenant_b):
    _with_customer(tenant_a)
    with as_anonymous():
        assert organization_for_customer("cus_door_test") == tenant_a.organization.pk
        assert organization_for_customer("") is None
        assert organization_for_customer("cus_other") is None
        assert organization_ids_with_customers() == [tenant_a.organization.pk]


def test_the_write_door_sets_billing_columns_only_and_audits(tenant_a):
    values = {
        "plan_tier": "starter",
        "max_workspaces": 3,
        "name": "Renamed",
        "slug": "moved",
        "deleted_at": "2020-01-01T00:00:00+00:00",
        "settings": {"rate_limit_per_minute": 10**6},
    }
    with as_anonymous(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM atrium_billing_organization_write(%s, %s::jsonb, %s)",
            [tenant_a.organization.pk, json.dumps(values), "test"],
        )
        assert cursor.fetchone() == (1,)

    with as_user(tenant_a.owner.pk):
        org = Organization.objects.get(pk=tenant_a.organization.pk)
        audit = AuditLog.objects.get(
            organization_id=org.pk, action="organization.billing_changed"
        )
    assert (org.plan_tier, org.max_workspaces) == ("starter", 3)
    assert org.name == tenant_a.organization.name
    assert org.slug == tenant_a.organization.slug
    assert org.deleted_at is None and org.settings == {}
    assert audit.metadata["source"] == "test"


def test_the_doors_refuse_public(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.proacl::text FROM pg_proc p"
            " WHERE p.proname LIKE 'atrium_billing_%%' AND p.prosecdef"
        )
        doors = dict(cursor.fetchall())
    assert set(doors) == {
        "atrium_billing_organization_for_customer",
        "atrium_billing_organization_ids",
        "atrium_billing_organization_lock",
        "atrium_billing_organization_write",
    }
    for acl in doors.values():
        # An ACL entry "=X/…" would grant EXECUTE to PUBLIC.
        assert not re.search(r"(^|[{,])=X", acl), acl
