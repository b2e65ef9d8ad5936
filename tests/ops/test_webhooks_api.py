"""The webhook endpoints' API, the URL guard, signatures and event emission."""

from __future__ import annotations

import ipaddress
import json
import time

import pytest
from django.db import transaction

from tenancy import services, webhooks
from tenancy.addresses import address_allowed, url_check
from tenancy.context import as_user, as_workspace
from tenancy.data_models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tenancy.errors import WebhookURLRefused
from tests.api.conftest import world

__all__ = ["world"]

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hook"


def base(world) -> str:  # type: ignore[no-untyped-def]
    return f"/v1/workspaces/{world.a1.pk}/webhooks"


def create(world, persona: str = "owner", **body):  # type: ignore[no-untyped-def]
    payload = {"url": URL, "events": ["document.ready"], **body}
    return world.api(persona).post(base(world), payload)


def test_the_secret_is_shown_on_creation_and_rotation_only(world):
    created = create(world, description="CI")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("atrwh_") and len(body["secret"]) > 40
    endpoint = f"{base(world)}/{body['id']}"

    fetched = world.api("owner").get(endpoint).json()
    listed = world.api("owner").get(base(world)).json()["results"]
    rotated = world.api("owner").post(f"{endpoint}/rotate-secret").json()

    assert "secret" not in fetched and all("secret" not in e for e in listed)
    assert rotated["secret"] != body["secret"] and rotated["secret_rotated_at"]
    with as_workspace(world.a1.pk):
        stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert rotated["secret"] not in stored.secret_encrypted
    assert webhooks.secret_open(stored.secret_encrypted) == rotated["secret"]


def test_an_endpoint_is_updated_and_deleted(world):
    endpoint = f"{base(world)}/{create(world).json()['id']}"
    changed = world.api("owner").patch(
        endpoint, {"events": ["document.failed", "document.ready"], "is_active": False}
    )
    assert changed.status_code == 200
    assert changed.json()["events"] == ["document.failed", "document.ready"]
    assert world.api("owner").delete(endpoint).status_code == 204
    assert world.api("owner").get(endpoint).status_code == 404


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.0.5/hook", "address"),
        ("https://192.168.1.20/hook", "address"),
        ("http://169.254.169.254/latest/meta-data", "address"),
        ("http://[fe80::1]/hook", "address"),
        ("http://[::ffff:10.0.0.1]/hook", "address"),
        ("http://0.0.0.0/hook", "address"),
        ("ftp://example.com/hook", "scheme"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https://no-such-host.invalid/hook", "unresolvable"),
    ],
)
def test_private_addresses_are_refused(world, url, reason):
    response = create(world, url=url)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] in {"webhook_url_refused", "invalid_request"}
    if error["code"] == "webhook_url_refused":
        assert error["details"]["reason"] == reason
    with as_workspace(world.a1.pk):
        assert not WebhookEndpoint.objects.exists()


def hook_check(url: str):  # type: ignore[no-untyped-def]
    return url_check(url, policy=webhooks.url_policy())


def hook_address_allowed(address: str) -> bool:
    allowed = webhooks.url_policy().allowed
    return address_allowed(ipaddress.ip_address(address), allowed=allowed)


def test_loopback_is_refused_unless_allowed(settings):
    settings.ATRIUM_WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(WebhookURLRefused):
        hook_check("http://127.0.0.1:8000/hook")
    with pytest.raises(WebhookURLRefused):
        hook_check("http://localhost:8000/hook")
    assert not hook_address_allowed("::1")
    settings.ATRIUM_WEBHOOK_ALLOW_LOOPBACK = True
    assert hook_check("http://127.0.0.1:8000/hook").port == 8000
    # Still only loopback: private ranges stay closed.
    assert not hook_address_allowed("172.16.0.1")
    assert hook_address_allowed("93.184.216.34")


def test_plain_http_goes_only_to_loopback():
    with pytest.raises(WebhookURLRefused) as refused:
        hook_check("http://93.184.216.34/hook")
    assert refused.value.details["reason"] == "scheme"
    assert hook_check("https://93.184.216.34/hook").port == 443


def test_a_checked_target_connects_to_the_checked_address():
    target = hook_check("http://127.0.0.1:8000/hook?x=1")
    assert target.connect_url == "http://127.0.0.1:8000/hook?x=1"
    assert target.host_header == "127.0.0.1:8000"


def test_signatures_refuse_tampering_and_stale_timestamps():
    body, secret = b'{"id":"1"}', "atrwh_secret"
    now = int(time.time())
    header = webhooks.signature(secret=secret, timestamp=now, body=body)
    assert header.startswith(f"t={now},v1=")
    assert webhooks.signature_verify(secret=secret, header=header, body=body, now=now)
    assert not webhooks.signature_verify(
        secret=secret, header=header, body=b'{"id":"2"}', now=now
    )
    assert not webhooks.signature_verify(
        secret=secret, header=header, body=body, now=now + 301
    )
    assert not webhooks.signature_verify(
        secret=secret, header="v1=00", body=body, now=now
    )


def test_an_event_is_written_only_when_its_change_commits(
    world, django_capture_on_commit_callbacks
):
    create(world, events=["api_key.revoked"])
    key = world.keys["key_read"].api_key
    owner = world.users["owner"].pk
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic(), as_user(owner):
            services.api_key_revoke(api_key=key, reason="test")
            transaction.set_rollback(True)
    with as_workspace(world.a1.pk):
        assert not WebhookEvent.objects.exists()
    assert callbacks == []

    # The rolled-back revocation left this object revoked; use another key.
    key = world.keys["key_search"].api_key
    with django_capture_on_commit_callbacks() as callbacks, as_user(owner):
        services.api_key_revoke(api_key=key, reason="test")
    with as_workspace(world.a1.pk):
        event = WebhookEvent.objects.get(type="api_key.revoked")
        assert WebhookDelivery.objects.filter(event=event).count() == 1
    assert event.data["prefix"] == key.prefix and "key_hash" not in event.data
    assert len(callbacks) == 1


def test_no_endpoint_means_no_event_rows(world):
    with as_user(world.users["owner"].pk):
        services.api_key_revoke(api_key=world.keys["key_read"].api_key)
    with as_workspace(world.a1.pk):
        assert not WebhookEvent.objects.exists()


def test_keys_need_the_webhooks_scope(world):
    with as_user(world.users["owner"].pk):
        key = services.api_key_create(
            workspace=world.a1, name="hooks", scopes=["webhooks"]
        )
    from tests.api.conftest import Api

    assert Api(key.raw_key).get(base(world)).status_code == 200
    refused = world.api("key_all").get(base(world))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "insufficient_scope"


def test_foreign_endpoints_and_deliveries_are_not_found(world):
    with as_user(world.users["outsider"].pk):
        foreign = webhooks.webhook_endpoint_create(
            workspace=world.b1, url=URL, events=["api_key.revoked"]
        )
        services.api_key_revoke(api_key=world.keys["key_b"].api_key)
    with as_workspace(world.b1.pk):
        delivery = WebhookDelivery.objects.get(endpoint=foreign.endpoint)
    owner = world.api("owner")
    mine = f"{base(world)}/{foreign.endpoint.pk}"
    theirs = f"/v1/workspaces/{world.b1.pk}/webhooks/{foreign.endpoint.pk}"
    calls = [
        ("GET", mine, None),
        ("PATCH", mine, {"description": "x"}),
        ("DELETE", mine, None),
        ("POST", f"{mine}/rotate-secret", None),
        ("GET", f"{mine}/deliveries", None),
        ("POST", f"{mine}/deliveries/{delivery.pk}/replay", None),
        ("GET", theirs, None),
        ("GET", f"/v1/workspaces/{world.b1.pk}/webhooks", None),
        ("POST", f"{theirs}/deliveries/{delivery.pk}/replay", None),
    ]
    for method, path, body in calls:
        response = owner.call(method, path, body)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "not_found"
    with as_workspace(world.b1.pk):
        assert WebhookDelivery.objects.filter(endpoint=foreign.endpoint).count() == 1
        assert WebhookEndpoint.objects.get(pk=foreign.endpoint.pk).description == ""


def test_usage_past_a_threshold_reaches_every_workspace_of_the_organization(world):
    from billing.services import usage_alerts_check
    from tenancy import quotas, ratelimit

    for workspace in (world.a1, world.a2):
        with as_user(world.users["owner"].pk):
            webhooks.webhook_endpoint_create(
                workspace=workspace, url=URL, events=["usage.threshold"]
            )
    with as_user(world.users["outsider"].pk):
        webhooks.webhook_endpoint_create(
            workspace=world.b1, url=URL, events=["usage.threshold"]
        )
    organization = world.org_a
    limit = organization.max_monthly_requests
    ratelimit.client().set(quotas._counter_key(organization, is_test=False), limit)

    with as_workspace(world.a1.pk):
        usage_alerts_check(workspace=world.a1)

    for workspace in (world.a1, world.a2):
        with as_workspace(workspace.pk):
            [event] = WebhookEvent.objects.filter(type="usage.threshold")
        assert event.data["scope"] == "organization"
        assert event.data["used"] == limit and event.data["maximum"] == limit
    with as_workspace(world.b1.pk):
        assert not WebhookEvent.objects.exists()


def test_documents_report_ready_and_failed(world, settings, tmp_path):
    import io

    from knowledge import services as knowledge_services
    from knowledge.ingestion import pipeline
    from knowledge.ingestion.errors import IngestionError
    from tests.knowledge.conftest import ingest

    settings.MEDIA_ROOT = tmp_path / "media"
    create(world, events=["document.ready", "document.failed"])
    with transaction.atomic(), as_workspace(world.a1.pk):
        ready = knowledge_services.document_create(
            workspace=world.a1, file=io.BytesIO(b"# Guide\n\nHello."), filename="g.md"
        ).document
        failing = knowledge_services.document_create(
            workspace=world.a1, file=io.BytesIO(b"# Other\n\nBye."), filename="o.md"
        ).document
    ingest(ready)
    pipeline.document_fail(
        workspace_id=world.a1.pk,
        document_id=failing.pk,
        error=IngestionError("timeout", "Parsing took longer than allowed."),
    )

    with as_workspace(world.a1.pk):
        events = {e.type: e.data for e in WebhookEvent.objects.all()}
    assert events["document.ready"]["document_id"] == str(ready.pk)
    assert events["document.ready"]["chunk_count"] >= 1
    assert events["document.failed"]["document_id"] == str(failing.pk)
    assert events["document.failed"]["code"] == "timeout"
    assert "Hello" not in json.dumps(events)
