"""Usage alerts: at 90 % of a limit, admins are emailed once per period."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from billing import tasks
from billing.models import UsageAlert
from tenancy import quotas, ratelimit, services
from tenancy.context import as_user, as_workspace
from tenancy.models import Organization, Workspace
from tests.support.tenants import make_tenant, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(db):
    tenant = make_tenant(
        "alert", max_monthly_requests=100, max_documents_per_workspace=10
    )
    admin, member, ws_admin = make_user("adm"), make_user("mem"), make_user("wsa")
    with as_user(tenant.owner.pk):
        services.organization_member_add(
            organization=tenant.organization, user=admin, role="admin"
        )
        services.organization_member_add(
            organization=tenant.organization, user=member, role="member"
        )
        services.organization_member_add(
            organization=tenant.organization, user=ws_admin, role="member"
        )
        services.workspace_member_add(
            workspace=tenant.workspace, user=ws_admin, role="admin"
        )
    tenant.people = {"admin": admin, "member": member, "ws_admin": ws_admin}
    return tenant


def _use(tenant, requests):
    ratelimit.client().set(
        quotas._counter_key(tenant.organization, is_test=False), requests
    )


def _run(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return tasks.usage_alerts_check()


def test_ninety_percent_of_monthly_requests_emails_the_admins_once(
    tenant, django_capture_on_commit_callbacks
):
    _use(tenant, 89)
    assert _run(django_capture_on_commit_callbacks) == 0
    assert mail.outbox == []

    _use(tenant, 90)
    first = _run(django_capture_on_commit_callbacks)
    _use(tenant, 99)
    second = _run(django_capture_on_commit_callbacks)

    assert (first, second) == (1, 0)
    [message] = mail.outbox
    assert sorted(message.to) == sorted(
        [tenant.owner.email, tenant.people["admin"].email]
    )
    assert "90%" in message.subject


def test_a_new_period_alerts_again(tenant, django_capture_on_commit_callbacks):
    _use(tenant, 95)
    _run(django_capture_on_commit_callbacks)
    with as_user(tenant.owner.pk):
        Organization.objects.filter(pk=tenant.organization.pk).update(
            usage_period_start=timezone.now()
        )
        tenant.organization.refresh_from_db()
    _use(tenant, 95)

    assert _run(django_capture_on_commit_callbacks) == 1
    assert len(mail.outbox) == 2
    with as_workspace(tenant.workspace.pk):
        assert UsageAlert.objects.filter(kind="monthly_requests").count() == 2


def test_a_full_workspace_emails_its_admins_once(
    tenant, django_capture_on_commit_callbacks
):
    with as_workspace(tenant.workspace.pk):
        Workspace.objects.filter(pk=tenant.workspace.pk).update(document_count=9)

    assert _run(django_capture_on_commit_callbacks) == 1
    assert _run(django_capture_on_commit_callbacks) == 0

    [message] = mail.outbox
    assert sorted(message.to) == sorted(
        [
            tenant.owner.email,
            tenant.people["admin"].email,
            tenant.people["ws_admin"].email,
        ]
    )
    assert tenant.people["member"].email not in message.to
    assert tenant.workspace.name in message.subject


def test_test_key_requests_and_unlimited_plans_never_alert(
    db, django_capture_on_commit_callbacks
):
    unlimited = make_tenant("unl", max_monthly_requests=None)
    ratelimit.client().set(
        quotas._counter_key(unlimited.organization, is_test=True), 10**6
    )
    assert _run(django_capture_on_commit_callbacks) == 0
    assert mail.outbox == []
