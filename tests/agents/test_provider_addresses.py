"""Organizations' own base URLs pass the address guard, when stored and when called."""

from __future__ import annotations

import ipaddress

import httpx2
import openai
import pytest
from django.core.exceptions import ImproperlyConfigured

from agents.models import ProviderCredential
from agents.providers import ProviderCredentials, ProviderError
from agents.providers.addresses import base_url_check, pinned_client
from agents.providers.openai_chat import OpenAIChatModel
from agents.services import provider_credential_set
from tenancy import vault
from tenancy.addresses import AllowList, Target
from tenancy.context import as_user
from tests.agents.support import make_agent, stock
from tests.agents.test_chat_api import chat, key_for
from tests.agents.test_provider_credentials import ORG_KEY, stored, url
from tests.agents.test_providers_compatible import QUESTION
from tests.support.llm_servers import Canned, OpenAIServer

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.216.34/v1"


def put(world, provider: str, body: dict):  # type: ignore[no-untyped-def, type-arg]
    return world.api("owner").call("PUT", url(world.org_a, provider), body)


@pytest.fixture
def nothing_allowed(settings):  # type: ignore[no-untyped-def]
    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = []


@pytest.mark.usefixtures("nothing_allowed")
@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://127.0.0.1:11434/v1", "address"),
        ("http://127.9.9.9/v1", "address"),
        ("http://[::1]:11434/v1", "address"),
        ("http://localhost:11434/v1", "address"),
        ("http://10.0.0.5:8000/v1", "address"),
        ("http://172.16.0.1/v1", "address"),
        ("https://192.168.1.20/v1", "address"),
        ("http://100.64.0.1/v1", "address"),
        ("http://[fd00::1]/v1", "address"),
        ("http://169.254.169.254/latest/meta-data", "address"),
        ("http://[fe80::1]/v1", "address"),
        ("http://224.0.0.1/v1", "address"),
        ("http://[ff02::1]/v1", "address"),
        ("http://240.0.0.1/v1", "address"),
        ("http://0.0.0.0:8000/v1", "address"),
        ("http://[::]/v1", "address"),
        ("http://[::ffff:127.0.0.1]/v1", "address"),
        ("http://[::ffff:10.0.0.1]/v1", "address"),
        ("ftp://93.184.216.34/v1", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("93.184.216.34/v1", "scheme"),
        ("https://user:pw@93.184.216.34/v1", "credentials"),
        ("https://93.184.216.34:99999/v1", "port"),
        ("https://93.184.216.34:0/v1", "port"),
        ("http://[::1/v1", "malformed"),
        ("https://no-such-host.invalid/v1", "unresolvable"),
    ],
)
def test_a_base_url_that_is_not_public_is_refused_and_nothing_changes(
    world, base_url, reason
):
    assert put(world, "openai_compatible", {"base_url": PUBLIC}).status_code == 201

    response = put(world, "openai_compatible", {"base_url": base_url})

    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "provider_url_refused"
    assert error["details"] == {"field": "base_url", "reason": reason}
    assert stored(world, "openai_compatible").base_url == PUBLIC


@pytest.mark.usefixtures("nothing_allowed")
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_every_provider_s_base_url_is_checked(world, provider):
    response = put(
        world, provider, {"api_key": ORG_KEY, "base_url": "http://10.1.2.3/v1"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "provider_url_refused"
    assert ORG_KEY not in response.content.decode()
    assert not ProviderCredential.objects.exists()


@pytest.mark.usefixtures("nothing_allowed")
@pytest.mark.parametrize("base_url", [PUBLIC, "http://93.184.216.34:8080/v1"])
def test_public_servers_are_stored(world, base_url):
    response = put(world, "openai_compatible", {"base_url": base_url})

    assert response.status_code == 201, response.json()
    assert response.json()["base_url"] == base_url


@pytest.mark.parametrize(
    ("allowed", "accepted", "still_refused"),
    [
        (["10.0.0.0/8"], "http://10.20.30.40:8000/v1", "http://192.168.0.5/v1"),
        (["10.1.2.3"], "http://10.1.2.3:8000/v1", "http://10.1.2.4:8000/v1"),
        (["fd00::/8"], "http://[fd00::7]:8000/v1", "http://[fe80::7]/v1"),
        # A name admits that name, not its address under another name.
        (["LOCALHOST."], "http://localhost:11434/v1", "http://127.0.0.1:11434/v1"),
    ],
)
def test_the_operator_s_allow_list_opens_only_what_it_names(
    settings, world, allowed, accepted, still_refused
):
    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = allowed

    refused = put(world, "openai_compatible", {"base_url": still_refused})
    created = put(world, "openai_compatible", {"base_url": accepted})

    assert refused.status_code == 400
    assert refused.json()["error"]["details"]["reason"] == "address"
    assert created.status_code == 201, created.json()
    assert stored(world, "openai_compatible").base_url == accepted


@pytest.mark.usefixtures("nothing_allowed")
def test_the_platform_s_own_address_needs_no_allow_list(settings, world):
    settings.OPENAI_COMPATIBLE_BASE_URL = "http://10.9.9.9:8000/v1/"

    response = put(
        world,
        "openai_compatible",
        {"api_key": ORG_KEY, "base_url": "http://10.9.9.9:8000/v1"},
    )

    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("persona", ["outsider", "key_b"])
def test_another_organization_gets_404_not_the_guard_s_answer(world, persona):
    response = world.api(persona).call(
        "PUT",
        url(world.org_a, "openai_compatible"),
        {"base_url": "http://169.254.169.254/v1"},
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not ProviderCredential.objects.exists()


def test_a_bad_allow_list_entry_is_a_configuration_error(settings):
    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = ["10.0.0.0/8", "not a host!"]

    with pytest.raises(ImproperlyConfigured, match="ATRIUM_PROVIDER_ALLOWED_HOSTS"):
        base_url_check(PUBLIC)


def test_allow_list_entries_are_networks_addresses_or_names():
    allowed = AllowList.parse(
        [" 10.0.0.0/8 ", "192.168.1.7", "[::1]", "Vllm", "models.internal.", ""],
        setting="X",
    )

    assert allowed.hosts == frozenset({"vllm", "models.internal"})
    assert allowed.admits(ipaddress.ip_address("10.200.0.1"))
    assert allowed.admits(ipaddress.ip_address("192.168.1.7"))
    assert allowed.admits(ipaddress.ip_address("::1"))
    assert not allowed.admits(ipaddress.ip_address("192.168.1.8"))
    assert allowed.admits_host("VLLM") and not allowed.admits_host("vllm2")


# --- at call time --------------------------------------------------------------


@pytest.fixture
def tenant(settings, tenant_a):  # type: ignore[no-untyped-def]
    settings.OPENAI_COMPATIBLE_BASE_URL = ""
    settings.OPENAI_BASE_URL = "https://api.openai.com/v1"
    stock(tenant_a.workspace)
    return tenant_a


def agent_on(tenant, provider: str = "openai_compatible"):  # type: ignore[no-untyped-def]
    return make_agent(
        tenant.workspace, provider, model_provider=provider, model_name="m-1"
    )


def org_server(tenant, base_url: str) -> None:  # type: ignore[no-untyped-def]
    with as_user(tenant.owner.pk):
        provider_credential_set(
            organization=tenant.organization,
            provider="openai_compatible",
            base_url=base_url,
        )


def test_an_allowed_local_server_answers_through_the_sdk(
    settings, tenant, openai_server
):
    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = ["localhost"]
    agent = agent_on(tenant)
    port = openai_server.base_url.rsplit(":", 1)[1]
    org_server(tenant, f"http://localhost:{port}/v1")
    openai_server.reply(text="From the internal server.")

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 200, response.json()
    assert response.json()["response"] == "From the internal server."
    [sent] = openai_server.requests
    assert sent.headers["host"] == f"localhost:{port}"


@pytest.mark.parametrize("provider", ["openai_compatible", "openai"])
def test_a_stored_url_no_longer_allowed_is_refused_before_anything_is_sent(
    settings, tenant, openai_server, provider
):
    agent = agent_on(tenant, provider)
    with as_user(tenant.owner.pk):
        provider_credential_set(
            organization=tenant.organization,
            provider=provider,
            api_key=ORG_KEY,
            base_url=openai_server.api_url,
        )
    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = []

    response = chat(key_for(tenant), tenant.workspace, agent)

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "provider_url_refused"
    assert error["details"] == {"provider": provider, "reason": "address"}
    assert ORG_KEY not in response.content.decode()
    assert openai_server.requests == []
    # The stored entry is kept: allowing the host again brings it back.
    settings.ATRIUM_PROVIDER_ALLOWED_HOSTS = ["127.0.0.1"]
    openai_server.reply(text="Back again.")
    assert chat(key_for(tenant), tenant.workspace, agent).status_code == 200
    assert vault.unseal(stored_key(tenant, provider)) == ORG_KEY


def stored_key(tenant, provider: str) -> str:  # type: ignore[no-untyped-def]
    with as_user(tenant.owner.pk):
        return ProviderCredential.objects.get(
            organization=tenant.organization, provider=provider
        ).api_key_sealed


# --- the pinned connection ---------------------------------------------------------


def pinned_to(server: OpenAIServer, host: str) -> Target:
    port = int(server.base_url.rsplit(":", 1)[1])
    return Target(
        scheme="http",
        host=host,
        port=port,
        address=ipaddress.ip_address("127.0.0.1"),
        path="/v1",
    )


def test_requests_go_to_the_checked_address_not_to_a_new_lookup(openai_server):
    # `llm.invalid` resolves nowhere: only the pinned address can answer.
    target = pinned_to(openai_server, "llm.invalid")
    openai_server.reply(text="Pinned.")
    model = OpenAIChatModel(
        model="llama3.2:3b",
        credentials=ProviderCredentials(
            base_url=f"http://llm.invalid:{target.port}/v1", pinned=target
        ),
        provider="openai_compatible",
        max_tokens_field="max_tokens",
    )

    result = model.complete(QUESTION)

    assert result.text == "Pinned."
    assert openai_server.requests[0].headers["host"] == f"llm.invalid:{target.port}"


def test_a_redirect_from_the_organization_s_server_is_not_followed(openai_server):
    with OpenAIServer() as inside:
        openai_server.enqueue(
            Canned(
                status=307,
                body={},
                headers={"location": inside.api_url + "/chat/completions"},
            )
        )
        target = pinned_to(openai_server, "127.0.0.1")
        model = OpenAIChatModel(
            model="m",
            credentials=ProviderCredentials(
                base_url=openai_server.api_url, pinned=target
            ),
            provider="openai_compatible",
            max_tokens_field="max_tokens",
        )

        with pytest.raises(ProviderError):
            model.complete(QUESTION)

        assert len(openai_server.requests) == 1
        assert inside.requests == []


def test_the_pinned_transport_refuses_any_other_host(openai_server):
    client = pinned_client(
        pinned_to(openai_server, "127.0.0.1"), openai.DefaultHttpxClient
    )
    assert client is not None

    with OpenAIServer() as other, pytest.raises(httpx2.ConnectError), client:
        client.post(other.api_url + "/chat/completions", json={})

    assert other.requests == [] and openai_server.requests == []
