"""Documents in real headless Chromium, with a real Celery worker.

Files chosen in the picker and dropped on the drop zone upload through
documents.js, each with its outcome; the list then follows ingestion by
itself until the document is ready, and stops asking. Uses the
browser fixtures (tests/support/browser.py): any console error (a content
security policy violation included), page error or missing template variable
fails the test; screenshots land in var/screenshots/.
"""

# Fixtures imported from other modules are arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from knowledge.models import Document
from tenancy.context import as_workspace
from tests.dashboard.conftest import MISSING
from tests.dashboard.test_documents import worker  # noqa: F401  (fixture)
from tests.support.browser import Journey
from tests.support.tenants import Tenant, make_tenant
from tests.support.worker import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

GUIDE = (
    "# Support handbook\n\n## Passwords\n\nChoose Forgot password on the sign-in "
    "page.\n\n## Refunds\n\nWithin 30 days of purchase.\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def sign_in(trip: Journey, tenant: Tenant) -> str:
    """Sign in with a session made on the server; return the documents path."""
    client = Client()
    client.force_login(tenant.owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    trip.page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": trip.base_url}]
    )
    return f"/app/w/{tenant.workspace.pk}/documents/"


def settle(trip: Journey, worker: Worker, timeout: float = 150) -> None:
    """Wait until the list stops polling: nothing left in progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not trip.page.locator("#documents-list[data-polling]").count():
            return
        trip.page.wait_for_timeout(300)
    raise AssertionError(
        f"still polling; worker log:\n{worker.log.read_text()[-3000:]}"
    )


def test_upload_by_picker_and_drop_then_watch_ready_and_delete(
    journey: Journey, worker: Worker, tmp_path: Path
) -> None:
    tenant = make_tenant("browser-docs")
    documents = sign_in(journey, tenant)
    page = journey.page
    journey.go(documents)
    assert "No documents yet" in page.content()
    journey.snap("documents-empty")

    guide = tmp_path / "handbook.md"
    guide.write_text(GUIDE)
    image = tmp_path / "photo.txt"
    image.write_bytes(PNG)
    page.set_input_files("#upload-files", [str(guide), str(image)])

    results = page.locator("#upload-results")
    results.locator(".upload--created").wait_for()
    results.locator(".upload--refused").wait_for()
    assert "Type mismatch" in results.locator(".upload--refused").inner_text()
    assert "type_mismatch" in results.locator(".upload--refused").inner_text()

    # The drop zone takes files dropped on it, as a browser delivers them.
    dropped = page.evaluate_handle(
        """() => {
            const data = new DataTransfer();
            const text = "# Dropped note\\n\\nIt arrived by drag and drop.";
            data.items.add(new File([text], "dropped.md", {type: "text/markdown"}));
            return data;
        }"""
    )
    page.locator("form[data-dropzone]").dispatch_event(
        "drop", {"dataTransfer": dropped}
    )
    results.locator(".upload--created").nth(1).wait_for()

    settle(journey, worker)
    rows = page.locator("#documents-list tbody tr")
    assert rows.count() == 2
    assert page.locator("#documents-list .badge--success").count() == 2
    assert "Support handbook" in page.locator("#documents-list").inner_text()
    assert MISSING not in page.content()
    journey.snap("documents-list")

    page.get_by_role("link", name="Support handbook").click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/$"))
    assert page.locator(".stage--done").count() == 3
    assert (
        "Support handbook \N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK} Refunds"
        in page.locator("#chunks").inner_text()
    )
    assert MISSING not in page.content()
    journey.snap("document")

    page.get_by_role("button", name="Delete").first.click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible()
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r"/documents/$"))
    assert "Deleted “Support handbook”." in page.content()
    with as_workspace(tenant.workspace.pk):
        assert list(
            Document.objects.filter(workspace=tenant.workspace).values_list(
                "title", flat=True
            )
        ) == ["Dropped note"]


def settle_document(trip: Journey, worker: Worker, timeout: float = 150) -> None:
    """Wait until the document page stops polling (it reloads once when done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not trip.page.locator("#document-live[data-polling]").count():
            trip.page.wait_for_load_state()
            return
        trip.page.wait_for_timeout(300)
    raise AssertionError(
        f"still polling; worker log:\n{worker.log.read_text()[-3000:]}"
    )


def test_replace_content_from_the_document_page(
    journey: Journey, worker: Worker, tmp_path: Path
) -> None:
    tenant = make_tenant("browser-replace")
    documents = sign_in(journey, tenant)
    page = journey.page
    journey.go(documents)
    guide = tmp_path / "handbook.md"
    guide.write_text(GUIDE)
    page.set_input_files("#upload-files", [str(guide)])
    page.locator("#upload-results .upload--created a").click()
    page.wait_for_url(re.compile(r"/documents/[0-9a-f-]{36}/$"))
    detail = page.url
    settle_document(journey, worker)
    assert "Forgot password" in page.locator("#chunks").inner_text()

    replace = page.locator("#replace")
    assert replace.get_attribute("open") is None
    page.get_by_role("link", name="Replace content").click()
    assert replace.get_attribute("open") is not None
    journey.snap("document-replace")

    # Text past the request body limit is stopped here, not by a bare 400.
    page.fill("#id_text", "word " * 220_000)
    replace.get_by_role("button", name="Replace content").click()
    error = replace.locator(".js-size-error")
    error.wait_for()
    assert "Save it as a file and upload that instead." in error.inner_text()
    assert page.url.split("#")[0] == detail

    page.fill("#id_text", "")
    version_two = tmp_path / "handbook-v2.md"
    version_two.write_text(
        "# Support handbook\n\n## Shipping\n\nParcels leave the warehouse daily.\n"
    )
    page.set_input_files("#id_file", str(version_two))
    replace.get_by_role("button", name="Replace content").click()
    page.wait_for_url(detail)
    assert "the new version is being ingested" in page.content()
    settle_document(journey, worker)
    chunks = page.locator("#chunks").inner_text()
    assert "Parcels leave the warehouse daily." in chunks
    assert "Forgot password" not in chunks

    # A refused version comes back on the page with its code; nothing changes.
    image = tmp_path / "photo.txt"
    image.write_bytes(PNG)
    page.get_by_role("link", name="Replace content").click()
    page.set_input_files("#id_file", str(image))
    replace.get_by_role("button", name="Replace content").click()
    page.wait_for_url(re.compile(r"/replace/$"))
    refusal = page.locator(".replace__refusal")
    assert "type_mismatch" in refusal.inner_text()
    assert "Parcels leave the warehouse daily." in page.locator("#chunks").inner_text()
    journey.snap("document-replace-refused")
    # Chromium reports the page's own 415 status as a console error.
    journey.problems = [p for p in journey.problems if "status of 415" not in p]
    assert MISSING not in page.content()
