"""The customer's whole journey in a real browser (issue: the dashboard).

Sign up, create an organization and a workspace, upload a document and
watch it become ready, create an agent, chat and see a streamed, cited
answer, create and revoke an API key, and see the usage chart. Every page
is screenshotted at desktop and phone width (var/screenshots/).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.core import mail

from tests.browser.conftest import Journey

pytestmark = [pytest.mark.django_db(transaction=True)]

PASSWORD = "a long and unusual passphrase"


def sign_up(trip: Journey) -> str:
    email = f"journey-{uuid.uuid4().hex[:8]}@example.com"
    trip.go("/accounts/signup/")
    trip.snap("01-sign-up")
    page = trip.page
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    if page.locator("input[name=password2]").count():
        page.fill("input[name=password2]", PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=password1]")).locator(
        "button[type=submit]"
    ).click()
    page.wait_for_load_state()
    # Verification is mandatory: type the code the email carries (or follow
    # its link, when verification by code is turned off).
    if "/accounts/confirm-email/" in page.url or "verification" in page.content():
        body = next(m.body for m in reversed(mail.outbox) if email in m.to)
        code = re.search(r"^\s*([A-Z0-9]{4}-[A-Z0-9]{4})\s*$", body, re.MULTILINE)
        link = re.search(r"https?://\S+/accounts/confirm-email/\S+", body)
        assert code is not None or link is not None, body
        if code is not None:
            page.fill("input[name=code]", code.group(1))
        else:
            page.goto(link.group(0))
        page.locator("form button[type=submit]").first.click()
        page.wait_for_load_state()
        if "/accounts/login/" in page.url:
            page.fill("input[name=login]", email)
            page.fill("input[name=password]", PASSWORD)
            page.locator("form button[type=submit]").first.click()
            page.wait_for_load_state()
    return email


def test_sign_up_then_organization_and_workspace(journey: Journey) -> None:
    sign_up(journey)
    page = journey.page
    # A new user has nothing yet: the dashboard asks for an organization.
    page.goto(journey.base_url + "/app/")
    page.wait_for_url(re.compile(r"/app/organizations/new/"))
    journey.snap("02-new-organization")
    page.get_by_label("Name").fill("Journey Labs")
    page.get_by_role("button", name=re.compile("Create organization")).click()
    page.wait_for_url(re.compile(r"/app/organizations/[0-9a-f-]{36}/$"))
    journey.snap("03-organization")

    page.get_by_label("Name").fill("Support")
    page.get_by_role("button", name=re.compile("Create workspace")).click()
    page.wait_for_url(re.compile(r"/app/w/[0-9a-f-]{36}/chat/"))
    assert "Support" in page.locator(".topbar").inner_text()
    journey.snap("04-workspace-chat")
    assert all(Path(shot).stat().st_size > 0 for shot in journey.shots)
