"""The account pages through allauth: sign-up with a code, log-in, log-out,
password reset and two-factor authentication, all in Atrium's look."""

from __future__ import annotations

import re
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client

from accounts.models import User
from accounts.services import user_signup
from tests.dashboard.conftest import page_text
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a different staple 42"


def no_inline_code(text: str) -> None:
    """The content security policy forbids inline scripts and styles."""
    assert " style=" not in text
    for attributes in re.findall(r"<script([^>]*)>", text):
        assert "src=" in attributes or "application/json" in attributes, attributes
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"


def log_in(client: Client, email: str, password: str = PASSWORD) -> Any:
    return client.post("/accounts/login/", {"login": email, "password": password})


def recovery_codes(text: str) -> list[str]:
    box = re.search(r'id="recovery_codes"[^>]*>(.*?)</textarea>', text, re.S)
    assert box is not None
    return box.group(1).split()


def current_code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
        "/accounts/password/reset/done/",
    ],
)
def test_entrance_pages_wear_atrium_and_no_inline_code(path):
    response = Client().get(path)

    assert response.status_code == 200
    text = page_text(response)
    no_inline_code(text)
    assert 'class="auth"' in text
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        "/accounts/logout/",
    ],
)
def test_account_settings_sit_in_the_dashboard_frame(db, path):
    user = make_user("owner", email_verified=True)
    client = Client()
    log_in(client, user.email)

    response = client.get(path)

    assert response.status_code == 200
    text = page_text(response)
    no_inline_code(text)
    assert 'aria-label="Account"' in text
    assert user.email in text


def test_sign_up_verifies_the_address_with_a_code(mailoutbox):
    client = Client()

    signed_up = client.post(
        "/accounts/signup/",
        {"email": "grace@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert signed_up.status_code == 302
    assert signed_up["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    page_text(client.get("/accounts/confirm-email/"))
    [mail] = mailoutbox
    code = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", mail.body, re.MULTILINE)
    assert code is not None, mail.body

    wrong = client.post("/accounts/confirm-email/", {"code": "XXXXXX"})
    assert wrong.status_code == 200
    assert "_auth_user_id" not in client.session
    confirmed = client.post("/accounts/confirm-email/", {"code": code.group(1)})

    user = User.objects.get(email="grace@example.com")
    assert confirmed.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert user.email_verified
    assert client.get("/app/")["Location"] == "/app/organizations/new/"


def test_an_unverified_account_must_verify_before_logging_in(mailoutbox):
    # Made through the API's sign-up, outside allauth's forms.
    user = user_signup(email="api-made@example.com", password=PASSWORD)
    client = Client()

    response = log_in(client, user.email)

    assert response["Location"] == "/accounts/confirm-email/"
    assert "_auth_user_id" not in client.session
    assert len(mailoutbox) == 1


def test_an_account_verified_elsewhere_logs_straight_in():
    user = make_user("demo", email_verified=True)
    client = Client()

    response = log_in(client, user.email)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_wrong_password_is_refused_with_a_clear_message():
    user = make_user("owner", email_verified=True)

    response = log_in(Client(), user.email, "not the password")

    assert response.status_code == 200
    assert "not correct" in page_text(response)


def test_log_out_takes_a_post():
    user = make_user("owner", email_verified=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    refused = client.post("/accounts/logout/")
    assert refused.status_code == 403
    page = client.get("/accounts/logout/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page_text(page))
    assert token is not None
    done = client.post("/accounts/logout/", {"csrfmiddlewaretoken": token.group(1)})

    assert done.status_code == 302
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email_link(mailoutbox):
    user = make_user("owner", email_verified=True)
    client = Client()

    sent = client.post("/accounts/password/reset/", {"email": user.email})
    assert sent.status_code == 302
    [mail] = mailoutbox
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.body)
    assert link is not None, mail.body
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    page_text(form)
    changed = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link.group(1),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert changed.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert log_in(Client(), user.email, NEW_PASSWORD).status_code == 302


def test_two_factor_authentication_from_activation_to_recovery():
    user = make_user("owner", email_verified=True)
    client = Client()
    log_in(client, user.email)

    # Activate an authenticator app with the secret the page shows.
    # Sensitive changes ask for the password again first.
    asked = client.get("/accounts/2fa/totp/activate/")
    assert asked["Location"].startswith("/accounts/reauthenticate/")
    page_text(client.get(asked["Location"]))
    client.post(asked["Location"], {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    text = page_text(page)
    no_inline_code(text)
    assert 'class="qr"' in text
    secret = re.search(r'id="authenticator_secret" value="([A-Z2-7]+)"', text)
    assert secret is not None
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert wrong.status_code == 200
    activated = client.post(
        "/accounts/2fa/totp/activate/", {"code": current_code(secret.group(1))}
    )
    assert activated.status_code == 302
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    overview = page_text(client.get("/accounts/2fa/"))
    assert "Turn off" in overview and "10 of 10 left" in overview

    # Recovery codes: shown, then regenerated.
    codes = recovery_codes(page_text(client.get("/accounts/2fa/recovery-codes/")))
    assert len(codes) >= 8
    regenerated = client.post("/accounts/2fa/recovery-codes/generate/")
    assert regenerated.status_code == 302
    new_codes = recovery_codes(page_text(client.get("/accounts/2fa/recovery-codes/")))
    assert set(new_codes).isdisjoint(codes)

    # Logging in now asks for a code; a recovery code works once.
    second = Client()
    first_step = log_in(second, user.email)
    assert first_step["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in second.session
    page_text(second.get("/accounts/2fa/authenticate/"))
    refused = second.post("/accounts/2fa/authenticate/", {"code": "12345678"})
    assert refused.status_code == 200
    assert "_auth_user_id" not in second.session
    done = second.post("/accounts/2fa/authenticate/", {"code": new_codes[0]})
    assert done.status_code == 302
    assert second.session["_auth_user_id"] == str(user.pk)

    # And with the authenticator app's code.
    third = Client()
    log_in(third, user.email)
    third.post("/accounts/2fa/authenticate/", {"code": current_code(secret.group(1))})
    assert third.session["_auth_user_id"] == str(user.pk)

    # Deactivating needs the page's confirmation, then no code is asked.
    page_text(client.get("/accounts/2fa/totp/deactivate/"))
    deactivated = client.post("/accounts/2fa/totp/deactivate/")
    assert deactivated.status_code == 302
    assert not Authenticator.objects.filter(user=user, type="totp").exists()
    fourth = Client()
    log_in(fourth, user.email)
    assert fourth.session["_auth_user_id"] == str(user.pk)
