"""Organizations' own provider keys: sealed at rest, never shown, used by chat."""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client

from agents.models import ProviderCredential
from agents.services import provider_credential_set, provider_credentials_rotate
from tenancy import vault
from tenancy.context import as_user
from tenancy.models import AuditLog
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import chat, key_for
from tests.api.conftest import World
from tests.support.llm_servers import OpenAIServer
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

ORG_KEY = "sk-org-own-7a6b5c4d3e2f1a0b9c8d"
PLATFORM_KEY = "sk-platform-0f1e2d3c4b5a69788"


def url(organization, provider: str = "") -> str:
    base = f"/v1/organizations/{organization.pk}/provider-credentials"
    return f"{base}/{provider}" if provider else base


def stored(world: World, provider: str = "openai") -> ProviderCredential:
    with as_user(world.users["owner"].pk):
        return ProviderCredential.objects.get(
            organization=world.org_a, provider=provider
        )


def test_an_admin_stores_a_key_that_is_sealed_and_shown_only_as_a_hint(world):
    api = world.api("org_admin")

    created = api.call("PUT", url(world.org_a, "openai"), {"api_key": ORG_KEY})
    replaced = api.call(
        "PUT",
        url(world.org_a, "openai"),
        {"api_key": ORG_KEY + "X", "base_url": "https://93.184.216.34/v1/"},
    )
    listed = api.get(url(world.org_a))
    one = api.get(url(world.org_a, "openai"))

    assert created.status_code == 201 and replaced.status_code == 200
    for response in (created, replaced, listed, one):
        assert ORG_KEY[:-4] not in response.content.decode()
    assert one.json() == {
        **one.json(),
        "provider": "openai",
        "has_api_key": True,
        "api_key_hint": "…c8dX",
        "base_url": "https://93.184.216.34/v1",
    }
    assert [row["provider"] for row in listed.json()] == ["openai"]
    credential = stored(world)
    assert ORG_KEY not in credential.api_key_sealed
    assert vault.unseal(credential.api_key_sealed) == ORG_KEY + "X"
    with as_user(world.users["owner"].pk):
        audits = list(
            AuditLog.objects.filter(action="provider_credential.set").values_list(
                "metadata", flat=True
            )
        )
    assert len(audits) == 2
    assert all(ORG_KEY not in str(metadata) for metadata in audits)


def test_a_credential_is_deleted(world):
    api = world.api("owner")
    api.call("PUT", url(world.org_a, "anthropic"), {"api_key": ORG_KEY})

    assert api.delete(url(world.org_a, "anthropic")).status_code == 204
    assert api.get(url(world.org_a, "anthropic")).status_code == 404
    assert api.delete(url(world.org_a, "anthropic")).status_code == 404


@pytest.mark.parametrize(
    ("provider", "body", "status", "field"),
    [
        ("openai", {"base_url": "https://x.example"}, 400, "api_key"),
        ("openai_compatible", {}, 400, "base_url"),
        ("openai", {"api_key": "has spaces in it"}, 400, "api_key"),
        ("openai", {"api_key": ORG_KEY, "extra": 1}, 400, "extra"),
        ("extractive", {"api_key": ORG_KEY}, 404, None),
        ("nope", {"api_key": ORG_KEY}, 404, None),
    ],
)
def test_bad_input_is_refused_without_echoing_the_key(
    world, provider, body, status, field
):
    response = world.api("owner").call("PUT", url(world.org_a, provider), body)

    assert response.status_code == status
    assert ORG_KEY not in response.content.decode()
    if field:
        assert field in response.json()["error"]["details"]
    assert not ProviderCredential.objects.exists()


def test_a_keyless_local_server_is_stored_by_url(world):
    response = world.api("owner").call(
        "PUT",
        url(world.org_a, "openai_compatible"),
        {"base_url": "http://127.0.0.1:11434/v1"},
    )

    assert response.status_code == 201
    assert response.json()["has_api_key"] is False


@pytest.mark.parametrize("persona", ["outsider", "key_b"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_another_organizations_credentials_are_not_found(world, persona, method):
    provider_credential_set_as_owner(world)
    body = {"api_key": ORG_KEY} if method == "PUT" else None

    response = world.api(persona).call(method, url(world.org_a, "openai"), body)
    listed = world.api(persona).get(url(world.org_a))

    assert response.status_code == 404 and listed.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert vault.unseal(stored(world).api_key_sealed) == ORG_KEY


def provider_credential_set_as_owner(world: World, **fields):  # type: ignore[no-untyped-def]
    with as_user(world.users["owner"].pk):
        return provider_credential_set(
            organization=world.org_a,
            provider=fields.pop("provider", "openai"),
            api_key=fields.pop("api_key", ORG_KEY),
            **fields,
        )


@pytest.fixture
def gpt(settings, tenant_a, openai_server: OpenAIServer):  # type: ignore[no-untyped-def]
    settings.OPENAI_API_KEY = PLATFORM_KEY
    settings.OPENAI_BASE_URL = openai_server.api_url
    stock(tenant_a.workspace)
    agent = make_agent(
        tenant_a.workspace, "gpt", model_provider="openai", model_name="gpt-4o-mini"
    )
    return tenant_a, agent


def bearer(server: OpenAIServer) -> str:
    headers = {k.lower(): v for k, v in server.requests[-1].headers.items()}
    return headers["authorization"]


def test_chat_uses_the_organizations_key_else_the_platforms(gpt, openai_server):
    tenant, agent = gpt
    openai_server.reply(text="Platform answer.")
    assert chat(key_for(tenant), tenant.workspace, agent).status_code == 200
    assert bearer(openai_server) == f"Bearer {PLATFORM_KEY}"

    with as_user(tenant.owner.pk):
        provider_credential_set(
            organization=tenant.organization, provider="openai", api_key=ORG_KEY
        )
    openai_server.reply(text="Own-key answer.")
    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.json()["response"] == "Own-key answer."
    assert bearer(openai_server) == f"Bearer {ORG_KEY}"


def test_an_organizations_server_gets_only_its_own_key(
    settings, gpt, openai_server
) -> None:  # type: ignore[no-untyped-def]
    tenant, agent = gpt
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    with as_user(tenant.owner.pk):
        provider_credential_set(
            organization=tenant.organization,
            provider="openai",
            api_key=ORG_KEY,
            base_url=openai_server.api_url,
        )
    openai_server.reply(text="From the organization's server.")

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 200, response.json()
    assert bearer(openai_server) == f"Bearer {ORG_KEY}"


def test_the_organizations_key_never_reaches_errors_or_logs(
    settings, gpt, openai_server, caplog
) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_PROVIDER_MAX_ATTEMPTS = 1
    caplog.set_level(logging.DEBUG)
    tenant, agent = gpt
    with as_user(tenant.owner.pk):
        provider_credential_set(
            organization=tenant.organization, provider="openai", api_key=ORG_KEY
        )
    openai_server.enqueue(openai_server.error(401, f"Incorrect API key {ORG_KEY}"))

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.json()["error"]["code"] == "provider_auth_failed"
    assert ORG_KEY not in response.content.decode()
    assert ORG_KEY not in caplog.text


def test_a_key_no_configured_encryption_key_opens_is_a_clear_error(
    settings, gpt, openai_server
) -> None:  # type: ignore[no-untyped-def]
    tenant, agent = gpt
    with as_user(tenant.owner.pk):
        provider_credential_set(
            organization=tenant.organization, provider="openai", api_key=ORG_KEY
        )
    settings.ATRIUM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "provider_unavailable"
    assert openai_server.requests == []


def test_without_an_encryption_key_nothing_is_stored(settings, world):
    settings.ATRIUM_ENCRYPTION_KEYS = []

    response = world.api("owner").call(
        "PUT", url(world.org_a, "openai"), {"api_key": ORG_KEY}
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "encryption_unavailable"
    assert not ProviderCredential.objects.exists()


def test_rotation_reseals_every_key_with_the_newest(settings, world, capsys):
    old = settings.ATRIUM_ENCRYPTION_KEYS[0]
    provider_credential_set_as_owner(world)
    provider_credential_set_as_owner(
        world,
        provider="openai_compatible",
        api_key="",
        base_url="http://127.0.0.1:11434/v1",
    )
    before = stored(world).api_key_sealed
    new = Fernet.generate_key().decode()
    settings.ATRIUM_ENCRYPTION_KEYS = [new, old]

    call_command("atrium_provider_keys_rotate")
    call_command("atrium_provider_keys_rotate")

    after = stored(world).api_key_sealed
    assert after != before
    assert Fernet(new.encode()).decrypt(after.encode()).decode() == ORG_KEY
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "re-sealed 1, already current 0, unreadable 0",
        "re-sealed 0, already current 1, unreadable 0",
    ]
    settings.ATRIUM_ENCRYPTION_KEYS = [new]
    assert vault.unseal(after) == ORG_KEY


def test_rotation_leaves_a_key_an_admin_replaces_during_the_pass(
    settings, world, monkeypatch
):
    provider_credential_set_as_owner(world)
    settings.ATRIUM_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.ATRIUM_ENCRYPTION_KEYS,
    ]
    real_reseal = vault.reseal

    def admin_replaces_meanwhile(sealed: str) -> str | None:
        provider_credential_set_as_owner(world, api_key=ORG_KEY + "new")
        return real_reseal(sealed)

    monkeypatch.setattr(vault, "reseal", admin_replaces_meanwhile)
    counts = provider_credentials_rotate()

    assert counts == vault.Resealed(resealed=0, unchanged=1, broken=0)
    assert vault.unseal(stored(world).api_key_sealed) == ORG_KEY + "new"


def test_rotation_reports_keys_it_cannot_open(settings, world):
    provider_credential_set_as_owner(world)
    before = stored(world).api_key_sealed
    settings.ATRIUM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(CommandError):
        call_command("atrium_provider_keys_rotate")

    assert stored(world).api_key_sealed == before


def test_the_admin_shows_the_hint_and_never_the_key(world):
    provider_credential_set_as_owner(world)
    credential = stored(world)
    staff = Client()
    staff.force_login(make_user("staff-keys", is_staff=True, is_superuser=True))

    page = staff.get(f"/admin/agents/providercredential/{credential.pk}/change/")
    listing = staff.get("/admin/agents/providercredential/")

    assert page.status_code == HTTPStatus.OK and listing.status_code == HTTPStatus.OK
    for body in (page.content.decode(), listing.content.decode()):
        assert credential.api_key_hint in body
        assert ORG_KEY not in body and credential.api_key_sealed not in body
