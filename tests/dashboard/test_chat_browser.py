"""Chat in real headless Chromium: streamed, cited answers and their errors.

Uses the browser fixtures (tests/support/browser.py): any console
error (a content-security-policy violation included), page error or missing
template variable fails the test; screenshots land in var/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from knowledge import tasks
from tests.agents.support import make_agent, stock
from tests.support.browser import Journey
from tests.support.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tenant(monkeypatch: pytest.MonkeyPatch) -> Tenant:
    """A workspace with ingested documents (in this process) and an agent."""
    for task in (tasks.ingest_document, tasks.embed_document):
        monkeypatch.setattr(task, "delay", lambda *args: None)
    tenant = make_tenant("browser")
    stock(tenant.workspace)
    make_agent(tenant.workspace, "support", name="Support desk")
    return tenant


def sign_in(trip: Journey, tenant: Tenant) -> None:
    """Sign in through a session made on the server (sign-in has its own tests)."""
    client = Client()
    client.force_login(tenant.owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    trip.page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": trip.base_url}]
    )
    trip.go("/app/")
    trip.page.wait_for_url(re.compile(r"/app/w/[0-9a-f-]{36}/chat/"))


def test_a_question_streams_a_cited_answer_that_opens_its_passage(
    journey: Journey, tenant: Tenant
) -> None:
    sign_in(journey, tenant)
    page = journey.page
    composer = page.locator("[data-chat-input]")
    assert composer.evaluate("node => node === document.activeElement")

    # Shift+Enter is a new line, Enter sends.
    composer.fill("How do I reset")
    composer.press("Shift+Enter")
    composer.type("my password?")
    assert composer.input_value() == "How do I reset\nmy password?"
    composer.press("Enter")

    answer = page.locator("article.msg--assistant[data-message-id]")
    answer.wait_for()
    assert re.search(r"/chat/s/[0-9a-f-]{36}/$", page.url)  # the session's address
    assert "This is an extractive answer" in answer.inner_text()
    assert "hybrid_search" in answer.locator(".tools").inner_text()
    assert answer.locator(".source-card").count() >= 1
    assert page.locator("[data-chat-status]").inner_text().startswith("Answer ready")
    assert composer.evaluate("node => node === document.activeElement")
    assert composer.input_value() == ""
    assert page.locator(".session-link[aria-current=page]").count() == 1
    journey.snap("chat-answer")

    marker = answer.locator("button.cite").first
    marker.click()
    panel = page.locator("#source-panel")
    panel.locator(".source-view").wait_for()
    assert "Resetting your password" in panel.inner_text()
    assert "30 minutes" in panel.inner_text()
    journey.snap("chat-source")
    page.keyboard.press("Escape")
    assert not panel.evaluate("node => node.open")
    assert marker.evaluate("node => node === document.activeElement")


def test_errors_show_their_code_in_the_conversation(
    journey: Journey, tenant: Tenant
) -> None:
    blind: Any = make_agent(
        tenant.workspace, "blind", name="No search", enabled_tools=["list_documents"]
    )
    sign_in(journey, tenant)
    page = journey.page

    journey.go(f"/app/w/{tenant.workspace.pk}/agents/{blind.pk}/")
    test_panel = page.locator(".agent-test")
    test_panel.locator("[data-chat-input]").fill("Anything about passwords?")
    test_panel.locator("[data-chat-input]").press("Enter")

    error = test_panel.locator(".chat-error")
    error.wait_for()
    assert error.locator(".chat-error__code").inner_text() == "tool_disabled"
    assert "needs a search tool" in error.inner_text()
    assert error.get_attribute("role") == "alert"
    journey.snap("agent-test-error")
