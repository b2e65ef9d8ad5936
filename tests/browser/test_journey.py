"""The customer's whole journey in a real browser (issue: the dashboard).

Sign up, create an organization and a workspace, upload a document and
watch it become ready, create an agent, chat and see a streamed, cited
answer, create and revoke an API key, and see the usage chart. Every page
is screenshotted at desktop and phone width (var/screenshots/).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core import mail

from tests.support.browser import Journey
from tests.support.worker import Worker, start_worker, stop_worker

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


DOCUMENT = (
    "# Resetting your password\n\n"
    "Open the sign-in page and choose Forgot password. Atrium emails a reset "
    "link that works once and expires after thirty minutes.\n\n"
    "# Invoices\n\nInvoices are issued on the first day of each month.\n"
)


@pytest.fixture
def ingest_worker(tmp_path: Path, settings) -> Iterator[Worker]:  # type: ignore[no-untyped-def]
    """A real Celery worker on the ingestion queues, sharing the media root."""
    worker = start_worker(
        tmp_path,
        queues=("ingest", "embed", "graph", "default"),
        extra_env={"ATRIUM_MEDIA_ROOT": str(settings.MEDIA_ROOT)},
    )
    yield worker
    stop_worker(worker)


def create_organization_and_workspace(trip: Journey) -> str:
    page = trip.page
    # A new user has nothing yet: the dashboard asks for an organization.
    page.goto(trip.base_url + "/app/")
    page.wait_for_url(re.compile(r"/app/organizations/new/"))
    trip.snap("02-new-organization")
    page.get_by_label("Name").fill("Journey Labs")
    page.get_by_role("button", name=re.compile("Create organization")).click()
    page.wait_for_url(re.compile(r"/app/organizations/[0-9a-f-]{36}/$"))
    trip.snap("03-organization")

    page.get_by_label("Name").fill("Support")
    page.get_by_role("button", name=re.compile("Create workspace")).click()
    page.wait_for_url(re.compile(r"/app/w/[0-9a-f-]{36}/chat/"))
    assert "Support" in page.locator(".topbar").inner_text()
    trip.snap("04-workspace-chat-empty")
    found = re.search(r"/app/w/([0-9a-f-]{36})/", page.url)
    assert found is not None
    return found.group(1)


def upload_and_watch_it_ingest(trip: Journey, workspace: str, tmp_path: Path) -> None:
    page = trip.page
    trip.go(f"/app/w/{workspace}/documents/")
    source = tmp_path / "password-reset.md"
    source.write_text(DOCUMENT)
    # Choosing files uploads them at once (the button is there without JS).
    page.set_input_files("input[type=file][name=files]", str(source))
    upload = page.locator("form[data-dropzone] button[type=submit]")
    if upload.is_visible():
        upload.click()
    # The list updates itself while the document moves through its stages.
    row = page.locator("#documents-list").get_by_text("password-reset", exact=False)
    row.first.wait_for()
    page.locator("#documents-list").get_by_text("Ready", exact=True).first.wait_for(
        timeout=120_000
    )
    trip.snap("05-documents")
    page.locator("#documents-list a").filter(has_text="password").first.click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/"))
    assert "Forgot password" in page.content()
    trip.snap("06-document")


def create_agent(trip: Journey, workspace: str) -> None:
    page = trip.page
    trip.go(f"/app/w/{workspace}/agents/")
    trip.snap("07-agents-empty")
    page.get_by_role("link", name=re.compile("agent", re.IGNORECASE)).filter(
        has_text=re.compile("New agent|Create the first agent")
    ).first.click()
    page.get_by_label("Name", exact=True).fill("Helpdesk")
    page.get_by_label(re.compile("System prompt|Instructions")).fill(
        "Answer from the workspace's documents and cite them."
    )
    page.get_by_label("Provider").select_option("extractive")
    page.locator("input[name=enabled_tools][value=hybrid_search]").check()
    trip.snap("08-agent-new")
    page.get_by_role("button", name="Create agent").click()
    page.wait_for_load_state()
    assert "Helpdesk" in page.content()
    trip.snap("09-agent")


def chat_with_a_cited_answer(trip: Journey, workspace: str) -> None:
    page = trip.page
    trip.go(f"/app/w/{workspace}/chat/")
    box = page.locator("textarea[name=query]").first
    box.fill("How do I reset my password?")
    with page.expect_response(lambda r: r.request.method == "POST") as streamed:
        box.press("Enter")
    response = streamed.value
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "event: token" in response.text()
    answer = page.locator("article.msg--assistant").last
    answer.locator("[data-source-open]").first.wait_for()
    assert "is-streaming" not in (answer.get_attribute("class") or "")
    assert "Forgot password" in answer.inner_text()
    trip.snap("10-chat-answer")
    answer.locator("[data-source-open]").first.click()
    dialog = page.locator("dialog[open]")
    # The cited passage loads into the dialog, with its document's title.
    dialog.get_by_text("Forgot password", exact=False).first.wait_for()
    assert "password" in dialog.inner_text().lower()
    trip.snap("11-chat-citation")
    page.keyboard.press("Escape")


def create_and_revoke_a_key(trip: Journey, workspace: str) -> None:
    page = trip.page
    trip.go(f"/app/w/{workspace}/keys/")
    page.get_by_label("Name", exact=True).fill("Website search")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_load_state()
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert re.fullmatch(r"atr_live_[A-Za-z0-9]+", secret)
    trip.snap("12-key-created")
    # Shown once: the list never shows it again.
    trip.go(f"/app/w/{workspace}/keys/")
    assert secret not in page.content()
    page.get_by_role("link", name=re.compile("Revoke")).first.click()
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_load_state()
    assert page.get_by_text("Revoked", exact=True).count() >= 1
    trip.snap("13-key-revoked")


def see_the_usage_chart(trip: Journey) -> None:
    from billing.services import usage_events_flush

    # The scheduled job that moves buffered usage events into the table.
    usage_events_flush()
    page = trip.page
    page.get_by_role("link", name="Analytics").first.click()
    page.wait_for_url(re.compile(r"/analytics/"))
    chart = page.locator("svg[role=img]").first
    chart.wait_for()
    assert page.locator("table").count() >= 1
    trip.snap("14-analytics")
    page.get_by_role("link", name=re.compile("Usage")).first.click()
    page.wait_for_load_state()
    trip.snap("15-billing")


def test_the_whole_journey(
    journey: Journey, ingest_worker: Worker, tmp_path: Path
) -> None:
    sign_up(journey)
    workspace = create_organization_and_workspace(journey)
    upload_and_watch_it_ingest(journey, workspace, tmp_path)
    create_agent(journey, workspace)
    chat_with_a_cited_answer(journey, workspace)
    create_and_revoke_a_key(journey, workspace)
    see_the_usage_chart(journey)
    assert all(Path(shot).stat().st_size > 0 for shot in journey.shots)
