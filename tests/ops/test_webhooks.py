"""Webhook deliveries end to end: real worker, real HTTP receiver on loopback."""

from __future__ import annotations

import json
import time

import pytest

from tenancy import services, webhooks
from tenancy.context import as_user, as_workspace
from tenancy.data_models import WebhookDelivery, WebhookEndpoint
from tests.api.conftest import user_api
from tests.support.receiver import default_worker, make_receiver
from tests.support.tenants import Tenant

__all__ = ["default_worker", "make_receiver"]

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def endpoint_for(tenant: Tenant, url: str, events: list[str] | None = None):  # type: ignore[no-untyped-def]
    with as_user(tenant.owner.pk):
        return webhooks.webhook_endpoint_create(
            workspace=tenant.workspace,
            url=url,
            events=events or ["api_key.revoked"],
            actor_id=tenant.owner.pk,
        )


def revoke_a_key(tenant: Tenant, name: str = "ci") -> str:
    with as_user(tenant.owner.pk):
        created = services.api_key_create(workspace=tenant.workspace, name=name)
        services.api_key_revoke(api_key=created.api_key, reason="leaked")
    return str(created.api_key.pk)


def delivery_settled(tenant: Tenant, endpoint_id, timeout: float = 60):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with as_workspace(tenant.workspace.pk):
            delivery = (
                WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
                .prefetch_related("attempt_log")
                .order_by("-created_at")
                .first()
            )
            if delivery is not None and delivery.status != "pending":
                return delivery, list(delivery.attempt_log.all())
        time.sleep(0.1)
    raise AssertionError("the delivery did not settle")


def test_a_delivery_is_signed_and_verifies(default_worker, tenant_a, make_receiver):
    receiver = make_receiver()
    created = endpoint_for(tenant_a, receiver.url)

    key_id = revoke_a_key(tenant_a)
    [request] = receiver.wait_for(1)

    assert webhooks.signature_verify(
        secret=created.secret,
        header=request.headers["Atrium-Signature"],
        body=request.body,
        now=int(time.time()),
    )
    assert not webhooks.signature_verify(
        secret="atrwh_not-the-secret",
        header=request.headers["Atrium-Signature"],
        body=request.body,
        now=int(time.time()),
    )
    payload = json.loads(request.body)
    assert payload["type"] == "api_key.revoked"
    assert payload["workspace_id"] == str(tenant_a.workspace.pk)
    assert payload["data"]["api_key_id"] == key_id
    assert payload["data"]["reason"] == "leaked"
    assert request.headers["Atrium-Event-Id"] == payload["id"]
    delivery, [attempt] = delivery_settled(tenant_a, created.endpoint.pk)
    assert delivery.status == "succeeded" and attempt.status_code == 200


def test_a_failing_receiver_is_retried_then_succeeds(
    default_worker, tenant_a, make_receiver
):
    receiver = make_receiver(script=[500, 503])
    created = endpoint_for(tenant_a, receiver.url)

    revoke_a_key(tenant_a)
    requests = receiver.wait_for(3)

    delivery, attempts = delivery_settled(tenant_a, created.endpoint.pk)
    assert delivery.status == "succeeded" and delivery.attempts == 3
    assert [a.status_code for a in attempts] == [500, 503, 200]
    assert all(a.duration_ms >= 0 for a in attempts)
    # The response is logged, but only its first bytes.
    assert attempts[0].response_excerpt.startswith("answer 500")
    assert len(attempts[0].response_excerpt) == 1024
    # Every attempt carries the same event, freshly signed.
    assert len({r.body for r in requests}) == 1
    assert [r.headers["Atrium-Attempt"] for r in requests] == ["1", "2", "3"]


def test_attempts_stop_at_the_limit(default_worker, tenant_a, make_receiver):
    receiver = make_receiver(default=500)
    created = endpoint_for(tenant_a, receiver.url)

    revoke_a_key(tenant_a)
    receiver.wait_for(4)

    delivery, attempts = delivery_settled(tenant_a, created.endpoint.pk)
    assert delivery.status == "failed" and len(attempts) == 4
    time.sleep(1.5)
    assert len(receiver.requests) == 4


def test_a_410_disables_the_endpoint(default_worker, tenant_a, make_receiver):
    receiver = make_receiver(script=[410])
    created = endpoint_for(tenant_a, receiver.url)

    revoke_a_key(tenant_a, "first")
    receiver.wait_for(1)
    delivery, _ = delivery_settled(tenant_a, created.endpoint.pk)
    revoke_a_key(tenant_a, "second")
    time.sleep(1)

    assert delivery.status == "failed" and delivery.last_status_code == 410
    with as_workspace(tenant_a.workspace.pk):
        endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
    assert endpoint.is_active is False and "410" in endpoint.disabled_reason
    assert len(receiver.requests) == 1


def test_a_delivery_is_replayed_through_the_api(
    default_worker, tenant_a, make_receiver
):
    receiver = make_receiver()
    created = endpoint_for(tenant_a, receiver.url)
    revoke_a_key(tenant_a)
    [first] = receiver.wait_for(1)
    delivery, _ = delivery_settled(tenant_a, created.endpoint.pk)

    base = f"/v1/workspaces/{tenant_a.workspace.pk}/webhooks/{created.endpoint.pk}"
    response = user_api(tenant_a.owner).post(f"{base}/deliveries/{delivery.pk}/replay")
    [_, again] = receiver.wait_for(2)

    assert response.status_code == 202
    assert response.json()["replay_of"] == str(delivery.pk)
    assert again.body == first.body
    assert again.headers["Atrium-Delivery"] == response.json()["id"]
    listed = user_api(tenant_a.owner).get(f"{base}/deliveries").json()
    assert len(listed["results"]) == 2


def test_events_reach_only_their_own_workspace(
    default_worker, tenant_a, tenant_b, make_receiver
):
    receiver_a, receiver_b = make_receiver(), make_receiver()
    endpoint_for(tenant_a, receiver_a.url)
    endpoint_b = endpoint_for(tenant_b, receiver_b.url)

    revoke_a_key(tenant_a)
    receiver_a.wait_for(1)
    time.sleep(1)

    assert receiver_b.requests == []
    with as_workspace(tenant_b.workspace.pk):
        assert not WebhookDelivery.objects.filter(endpoint=endpoint_b.endpoint).exists()
