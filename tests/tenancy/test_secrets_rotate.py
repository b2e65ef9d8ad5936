"""Re-sealing stored secrets with a new encryption key: one command for all.

``manage.py atrium_secrets_rotate`` re-seals webhook endpoints' signing
secrets (tenancy) and organizations' provider keys (agents) through narrow
definer functions, with row-level security on.
"""

from __future__ import annotations

import logging
import time

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from agents.models import ProviderCredential
from agents.services import provider_credential_set
from tenancy import vault, webhooks
from tenancy.context import as_anonymous, as_user, as_workspace
from tenancy.data_models import WebhookEndpoint
from tenancy.webhook_delivery import delivery_attempt
from tests.support.receiver import make_receiver
from tests.support.tenants import Tenant

__all__ = ["make_receiver"]

pytestmark = pytest.mark.django_db

PROVIDER_KEY = "sk-org-own-5e4d3c2b1a0f9e8d7c6b"


def endpoint_for(tenant: Tenant, url: str = "http://127.0.0.1:9/hook"):  # type: ignore[no-untyped-def]
    with as_user(tenant.owner.pk):
        return webhooks.webhook_endpoint_create(
            workspace=tenant.workspace,
            url=url,
            events=["api_key.revoked"],
            actor_id=tenant.owner.pk,
        )


def stored(tenant: Tenant, endpoint_id) -> WebhookEndpoint:  # type: ignore[no-untyped-def]
    with as_workspace(tenant.workspace.pk):
        return WebhookEndpoint.objects.get(pk=endpoint_id)


def deliver_one(tenant: Tenant) -> None:
    """Emit an event in the tenant's workspace and make its delivery's attempt."""
    with as_workspace(tenant.workspace.pk):
        event = webhooks.event_emit(
            workspace_id=tenant.workspace.pk,
            type="api_key.revoked",
            data={"api_key_id": "k", "reason": "test"},
        )
        assert event is not None
        [delivery] = event.deliveries.all()
    state = delivery_attempt(workspace_id=tenant.workspace.pk, delivery_id=delivery.pk)
    assert state == "succeeded"


def new_key_first(settings) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    old = settings.ATRIUM_ENCRYPTION_KEYS[0]
    new = Fernet.generate_key().decode()
    settings.ATRIUM_ENCRYPTION_KEYS = [new, old]
    return new, old


def test_every_secret_is_resealed_with_the_new_key_and_still_signs(
    settings, tenant_a, tenant_b, make_receiver, capsys
):
    receivers = {"a": make_receiver(), "b": make_receiver()}
    created = {
        "a": endpoint_for(tenant_a, receivers["a"].url),
        "b": endpoint_for(tenant_b, receivers["b"].url),
    }
    with as_user(tenant_a.owner.pk):
        provider_credential_set(
            organization=tenant_a.organization, provider="openai", api_key=PROVIDER_KEY
        )
    before = {
        k: stored(t, created[k].endpoint.pk)
        for k, t in [("a", tenant_a), ("b", tenant_b)]
    }
    new, _ = new_key_first(settings)

    call_command("atrium_secrets_rotate")
    call_command("atrium_secrets_rotate")

    assert capsys.readouterr().out.splitlines() == [
        "provider keys: re-sealed 1, already current 0, unreadable 0",
        "webhook secrets: re-sealed 2, already current 0, unreadable 0",
        "provider keys: re-sealed 0, already current 1, unreadable 0",
        "webhook secrets: re-sealed 0, already current 2, unreadable 0",
    ]
    # The old key is dropped: only the new one opens what is stored.
    settings.ATRIUM_ENCRYPTION_KEYS = [new]
    for label, tenant in [("a", tenant_a), ("b", tenant_b)]:
        after = stored(tenant, created[label].endpoint.pk)
        assert after.secret_encrypted != before[label].secret_encrypted
        assert webhooks.secret_open(after.secret_encrypted) == created[label].secret
        # The customer's secret did not change, so neither does its date.
        assert after.secret_rotated_at is None
        assert after.updated_at == before[label].updated_at

        deliver_one(tenant)
        [request] = receivers[label].requests
        assert webhooks.signature_verify(
            secret=created[label].secret,
            header=request.headers["Atrium-Signature"],
            body=request.body,
            now=int(time.time()),
        )
    with as_user(tenant_a.owner.pk):
        credential = ProviderCredential.objects.get(organization=tenant_a.organization)
    assert vault.unseal(credential.api_key_sealed) == PROVIDER_KEY


def test_a_secret_an_admin_rotates_during_the_pass_is_left_alone(
    settings, tenant_a, monkeypatch
):
    created = endpoint_for(tenant_a)
    new_key_first(settings)
    real_reseal = vault.reseal
    rotated = []

    def admin_rotates_meanwhile(sealed: str) -> str | None:
        # Between the pass reading the sealed secret and swapping it, an
        # admin gives the endpoint a new secret.
        with as_user(tenant_a.owner.pk):
            endpoint = WebhookEndpoint.objects.get(pk=created.endpoint.pk)
            rotated.append(webhooks.webhook_secret_rotate(endpoint=endpoint))
        return real_reseal(sealed)

    monkeypatch.setattr(vault, "reseal", admin_rotates_meanwhile)
    counts = webhooks.webhook_secrets_reseal()

    assert counts == vault.Resealed(resealed=0, unchanged=1, broken=0)
    after = stored(tenant_a, created.endpoint.pk)
    assert webhooks.secret_open(after.secret_encrypted) == rotated[0].secret
    assert after.secret_rotated_at is not None


def test_a_secret_no_key_opens_is_reported_by_id_and_the_command_fails(
    settings, tenant_a, tenant_b, capsys, caplog
):
    caplog.set_level(logging.DEBUG)
    lost = endpoint_for(tenant_a)
    # The key that sealed it is dropped before anything was re-sealed.
    settings.ATRIUM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    current = endpoint_for(tenant_b)
    sealed = stored(tenant_a, lost.endpoint.pk).secret_encrypted

    with pytest.raises(CommandError, match="webhook secrets 1"):
        call_command("atrium_secrets_rotate")

    out = capsys.readouterr().out
    assert "webhook secrets: re-sealed 0, already current 1, unreadable 1" in out
    assert stored(tenant_a, lost.endpoint.pk).secret_encrypted == sealed
    assert str(lost.endpoint.pk) in caplog.text
    assert str(current.endpoint.pk) not in caplog.text
    for secret in (lost.secret, current.secret, sealed):
        assert secret not in caplog.text and secret not in out


@pytest.mark.parametrize(
    "command", ["atrium_secrets_rotate", "atrium_provider_keys_rotate"]
)
def test_without_an_encryption_key_the_command_says_so(settings, tenant_a, command):
    endpoint_for(tenant_a)
    settings.ATRIUM_ENCRYPTION_KEYS = []

    with pytest.raises(CommandError, match="No encryption key is configured"):
        call_command(command)


def test_the_app_role_sees_only_ids_and_sealed_values_of_every_organization(
    tenant_a, tenant_b
):
    a, b = endpoint_for(tenant_a), endpoint_for(tenant_b)

    with as_anonymous(), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM atrium_webhook_secrets_sealed()")
        columns = [column.name for column in cursor.description]
        listed = dict(cursor.fetchall())
        # Row-level security stays on: the table itself reads as empty.
        cursor.execute("SELECT count(*) FROM webhook_endpoints")
        [(visible,)] = cursor.fetchall()

    assert columns == ["id", "sealed"]
    assert visible == 0
    assert listed[a.endpoint.pk] == stored(tenant_a, a.endpoint.pk).secret_encrypted
    assert listed[b.endpoint.pk] == stored(tenant_b, b.endpoint.pk).secret_encrypted


def test_the_swap_door_changes_only_a_value_still_as_read(tenant_a):
    created = endpoint_for(tenant_a)
    sealed = stored(tenant_a, created.endpoint.pk).secret_encrypted
    fresh = vault.seal(created.secret)

    def swap(old: str, new: str) -> bool:
        with as_anonymous(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT atrium_webhook_secret_reseal(%s, %s, %s)",
                [created.endpoint.pk, old, new],
            )
            [(done,)] = cursor.fetchall()
        return bool(done)

    assert swap("not-what-is-stored", fresh) is False
    assert swap(sealed, "") is False
    assert stored(tenant_a, created.endpoint.pk).secret_encrypted == sealed
    assert swap(sealed, fresh) is True
    assert stored(tenant_a, created.endpoint.pk).secret_encrypted == fresh
