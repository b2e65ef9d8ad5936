"""Sign-in through an OpenID Connect provider, end to end, on the loopback.

The browser's part (following redirects to the provider and back) is played
by the test; Atrium's part (discovery, the token exchange with PKCE, the
id_token checks, userinfo) runs for real against tests/support/oidc_server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.test import Client

from accounts.models import User
from tests.dashboard.conftest import page_text
from tests.support.oidc_server import Provider, oidc_provider
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

PERSON = {
    "sub": "corp-4711",
    "email": "ada@corp.example",
    "email_verified": True,
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
}


@pytest.fixture
def provider(settings: Any) -> Iterator[Provider]:
    with oidc_provider(
        client_id="atrium-test", secret="provider-secret", person=dict(PERSON)
    ) as running:
        settings.ATRIUM_OIDC_PROVIDERS = [
            {
                "id": "corp",
                "name": "Corp SSO",
                "server_url": running.url,
                "client_id": "atrium-test",
                "secret": "provider-secret",
            }
        ]
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": "corp",
                        "name": "Corp SSO",
                        "client_id": "atrium-test",
                        "secret": "provider-secret",
                        "settings": {
                            "server_url": running.url,
                            "oauth_pkce_enabled": True,
                        },
                    }
                ],
            }
        }
        yield running


def sign_in(client: Client, provider: Provider) -> Any:
    """Start at Atrium's button, visit the provider, come back with the code."""
    start = client.post("/accounts/oidc/corp/login/")
    assert start.status_code == 302
    assert start["Location"].startswith(f"{provider.url}/authorize?")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"]

    # The browser's visit to the provider, which approves at once.
    approved = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/accounts/oidc/corp/login/callback/"
    return client.get(f"{back.path}?{back.query}")


def test_the_login_page_offers_each_configured_provider(provider):
    text = page_text(Client().get("/accounts/login/"))

    assert "Continue with Corp SSO" in text
    # A form that posts (with its CSRF token), never a bare GET link.
    assert 'action="/accounts/oidc/corp/login/?process=login"' in text
    assert 'method="post"' in text


def test_a_new_person_signs_up_and_in_through_the_provider(provider):
    client = Client()

    finished = sign_in(client, provider)

    assert finished.status_code == 302
    user = User.objects.get(email__iexact=PERSON["email"])
    assert client.session["_auth_user_id"] == str(user.pk)
    account = SocialAccount.objects.get(user=user)
    assert (account.provider, account.uid) == ("corp", PERSON["sub"])
    # The provider vouched for the address, so no verification code is asked.
    assert EmailAddress.objects.get(user=user).verified
    assert provider.log.count("POST /token") == 1
    assert "GET /userinfo" in provider.log
    home = client.get("/app/")
    assert home.status_code == 302
    assert home["Location"] == "/app/organizations/new/"


def test_signing_in_again_finds_the_same_account(provider):
    sign_in(Client(), provider)
    again = Client()

    sign_in(again, provider)

    user = User.objects.get(email__iexact=PERSON["email"])
    assert again.session["_auth_user_id"] == str(user.pk)
    assert User.objects.filter(email__iexact=PERSON["email"]).count() == 1


def test_an_existing_account_is_not_taken_over_by_a_provider(provider, mailoutbox):
    existing = make_user("owner", email_verified=True)
    provider.person["email"] = existing.email
    client = Client()

    response = sign_in(client, provider)

    # The provider's say-so is not enough: whoever holds the mailbox decides.
    assert "_auth_user_id" not in client.session
    assert not SocialAccount.objects.filter(user=existing).exists()
    assert response["Location"] == "/accounts/confirm-email/"
    page_text(client.get(response["Location"]))
    [mail] = mailoutbox
    assert mail.to == [existing.email]
    assert "already" in mail.body.lower()


def test_an_id_token_for_another_audience_is_refused(provider):
    provider.audience = "someone-else"
    client = Client()

    response = sign_in(client, provider)

    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email__iexact=PERSON["email"]).exists()
    text = page_text(response)
    assert "Sign-in failed" in text or "could not" in text.lower()


def test_a_wrong_client_secret_is_refused_by_the_provider(provider):
    provider.secret = "rotated-at-the-provider"
    client = Client()

    response = sign_in(client, provider)

    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email__iexact=PERSON["email"]).exists()
    page_text(response)
