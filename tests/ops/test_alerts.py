"""The scheduled alerts: error rate, and API key spikes that revoke the key."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.core import mail
from prometheus_client import REGISTRY

from config.celery import app
from tenancy import ratelimit
from tenancy import services as tenancy_services
from tenancy.context import as_user, as_workspace
from tenancy.models import APIKey, AuditLog, WorkspaceRole
from tenancy.observability import alerts
from tenancy.services import CreatedAPIKey
from tenancy.tasks import ops_api_key_spikes_check, ops_error_rate_check
from tests.api.conftest import Api
from tests.ops.conftest import CapturedLog
from tests.support.tenants import Tenant, make_user

pytestmark = pytest.mark.django_db

SEARCH = "v1/workspaces/<uuid:workspace_id>/search"


def alerts_raised(name: str) -> float:
    return REGISTRY.get_sample_value("atrium_alerts_total", {"alert": name}) or 0.0


def count(route: str, requests: int, errors: int, now: float) -> None:
    for index in range(requests):
        alerts.request_count(
            route=route,
            failed=index < errors,
            api_key_id=None,
            api_key_workspace_id=None,
            now=now,
        )


def make_key(tenant: Tenant, rate_limit: int = 60) -> CreatedAPIKey:
    with as_user(tenant.owner.pk):
        return tenancy_services.api_key_create(
            workspace=tenant.workspace,
            name="batch",
            scopes=["documents:read"],
            rate_limit_per_minute=rate_limit,
        )


@pytest.fixture
def thresholds(settings):  # type: ignore[no-untyped-def]
    settings.ATRIUM_ALERT_EMAILS = ["oncall@example.com"]
    settings.ATRIUM_ALERT_ERROR_MIN_REQUESTS = 20
    settings.ATRIUM_KEY_SPIKE_MIN_REQUESTS = 20
    settings.ATRIUM_KEY_SPIKE_FACTOR = 10
    settings.ATRIUM_KEY_SPIKE_BASELINE = 15
    return settings


def test_the_beat_runs_every_alert_and_reuses_billings_usage_alerts() -> None:
    schedule = {
        entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
    }
    expected = {
        "tenancy.tasks.ops_error_rate_check",
        "tenancy.tasks.ops_api_key_spikes_check",
        "billing.tasks.usage_alerts_check",
    }
    assert expected <= schedule
    app.loader.import_default_modules()  # what a worker does at start
    assert expected <= set(app.tasks)


def test_a_server_error_counts_towards_the_error_rate(
    tenant_a: Tenant, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    created = make_key(tenant_a)
    with as_user(tenant_a.owner.pk):
        APIKey.objects.filter(pk=created.api_key.pk).update(scopes=["search"])

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("search backend exploded")

    monkeypatch.setattr("knowledge.api.views.search", broken)
    api = Api(created.raw_key)
    api.client.raise_request_exception = False
    path = f"/v1/workspaces/{tenant_a.workspace.pk}/search"
    assert api.post(path, {"query": "x"}).status_code == 500

    counted = {
        field.decode(): int(number)
        for field, number in ratelimit.client()
        .hgetall(f"atrium:ops:m:{int(time.time() // 60)}")
        .items()
    }
    assert counted[f"r|{SEARCH}"] == 1
    assert counted[f"e|{SEARCH}"] == 1
    assert counted["e|*"] == 1
    assert counted[f"k|{tenant_a.workspace.pk}|{created.api_key.pk}"] == 1


def test_error_rate_above_threshold_alerts_once_per_route(
    thresholds, json_log: CapturedLog
) -> None:  # type: ignore[no-untyped-def]
    now = time.time()
    count("v1/a", requests=100, errors=6, now=now)  # 6 %: alert
    count("v1/b", requests=100, errors=5, now=now)  # 5 %: not above
    count("v1/c", requests=10, errors=5, now=now)  # too few requests
    count("v1/d", requests=50, errors=50, now=now - 11 * 60)  # out of window
    before = alerts_raised("error_rate")

    raised = alerts.error_rate_check(now=now + 60)
    again = alerts.error_rate_check(now=now + 60)

    # All routes: 16 errors in 210 requests.
    assert [(a.route, a.requests, a.errors) for a in raised] == [
        ("*", 210, 16),
        ("v1/a", 100, 6),
    ]
    assert again == []
    assert alerts_raised("error_rate") - before == 2
    assert [m.to for m in mail.outbox] == [["oncall@example.com"]] * 2
    assert "6.0% server errors on route v1/a" in mail.outbox[1].subject
    lines = json_log.events("alert")
    assert [(line["alert"], line["route"]) for line in lines] == [
        ("error_rate", "*"),
        ("error_rate", "v1/a"),
    ]
    assert all(line["level"] == "ERROR" for line in lines)


def test_the_beat_task_checks_the_error_rate(thresholds) -> None:  # type: ignore[no-untyped-def]
    count("v1/e", requests=40, errors=40, now=time.time() - 60)
    assert ops_error_rate_check() == 2  # the route and all routes


def test_a_spiking_key_is_revoked_audited_and_its_admins_emailed(
    thresholds,
    tenant_a: Tenant,
    tenant_b: Tenant,
    json_log: CapturedLog,
    django_capture_on_commit_callbacks,
) -> None:  # type: ignore[no-untyped-def]
    admin = make_user("ws-admin")
    with as_user(tenant_a.owner.pk):
        tenancy_services.organization_member_add(
            organization=tenant_a.organization, user=admin
        )
        tenancy_services.workspace_member_add(
            workspace=tenant_a.workspace, user=admin, role=WorkspaceRole.ADMIN
        )
    leaked = make_key(tenant_a, rate_limit=5)
    steady = make_key(tenant_a)
    outsider = make_key(tenant_b)
    documents_a = f"/v1/workspaces/{tenant_a.workspace.pk}/documents"
    documents_b = f"/v1/workspaces/{tenant_b.workspace.pk}/documents"
    statuses = [Api(leaked.raw_key).get(documents_a).status_code for _ in range(25)]
    for _ in range(3):
        assert Api(steady.raw_key).get(documents_a).status_code == 200
        assert Api(outsider.raw_key).get(documents_b).status_code == 200
    before = alerts_raised("api_key_spike")

    with django_capture_on_commit_callbacks(execute=True):
        assert ops_api_key_spikes_check() == 1

    # Refused requests count too: a leaked key hammers past its rate limit.
    assert statuses.count(200) == 5 and statuses.count(429) == 20
    with as_user(tenant_a.owner.pk):
        revoked = APIKey.objects.get(pk=leaked.api_key.pk)
        audit = AuditLog.objects.get(
            action="api_key.revoked", target_id=str(revoked.pk)
        )
        others = set(
            APIKey.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True)
        )
    with as_user(tenant_b.owner.pk):
        outsider_active = APIKey.objects.get(pk=outsider.api_key.pk).is_active
    assert revoked.revoked_at is not None and not revoked.is_active
    assert steady.api_key.pk in others
    assert outsider_active
    assert audit.workspace_id == tenant_a.workspace.pk
    assert audit.metadata["prefix"] == leaked.api_key.prefix
    assert audit.metadata["reason"].startswith(
        "automatic: 25 requests in one minute against a baseline of 0.0"
    )
    [email] = mail.outbox
    assert sorted(email.to) == sorted([tenant_a.owner.email, admin.email])
    assert leaked.api_key.prefix in email.subject
    assert leaked.raw_key not in email.body and leaked.raw_key not in email.subject
    assert alerts_raised("api_key_spike") - before == 1
    [line] = json_log.events("alert")
    assert line["alert"] == "api_key_spike"
    assert line["api_key_prefix"] == leaked.api_key.prefix
    assert line["workspace_id"] == str(tenant_a.workspace.pk)
    assert leaked.raw_key not in json_log.text

    refused = Api(leaked.raw_key).get(documents_a)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "api_key_revoked"
    with django_capture_on_commit_callbacks(execute=True):
        assert ops_api_key_spikes_check() == 0  # already revoked: nothing twice
    assert len(mail.outbox) == 1


def test_steady_heavy_traffic_is_not_a_spike(thresholds, tenant_a: Tenant) -> None:  # type: ignore[no-untyped-def]
    busy = make_key(tenant_a, rate_limit=1000)
    now = time.time()
    for minutes_ago in range(2, 17):
        for _ in range(30):
            alerts.request_count(
                route="v1/x",
                failed=False,
                api_key_id=busy.api_key.pk,
                api_key_workspace_id=tenant_a.workspace.pk,
                now=now - 60 * minutes_ago,
            )
    for _ in range(60):  # twice its usual minute: busy, not suspicious
        alerts.request_count(
            route="v1/x",
            failed=False,
            api_key_id=busy.api_key.pk,
            api_key_workspace_id=tenant_a.workspace.pk,
            now=now,
        )

    assert alerts.api_key_spikes_find(now=now) == []
    with as_workspace(tenant_a.workspace.pk):
        assert APIKey.objects.get(pk=busy.api_key.pk).revoked_at is None

    thresholds.ATRIUM_KEY_SPIKE_FACTOR = 1.5  # the same traffic, a stricter rule
    [spike] = alerts.api_key_spikes_find(now=now)
    assert (spike.api_key_id, spike.requests, spike.baseline) == (
        busy.api_key.pk,
        60,
        30,
    )
