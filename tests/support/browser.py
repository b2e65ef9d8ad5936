"""Real headless Chromium against a live Atrium (a pytest plugin of the suite).

Debian's ``chromium`` package (``make browser`` installs it) driven by
Playwright with the system browser; ``playwright install`` cannot download
browsers on these machines. Every page's console errors and failed requests
fail the test; screenshots land in var/screenshots/ at desktop and phone
width. Playwright's sync API cannot run twice at once in one thread, so
every browser test takes these fixtures by name (tests/conftest.py registers
this module) rather than importing them, and one browser serves a module.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Missing template variables render as this marker so a journey can spot them.
TEMPLATE_MARKER = "@@MISSING@@"


@dataclass
class Journey:
    """A browser page plus what went wrong on it so far."""

    page: Any
    base_url: str
    problems: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.check_templates()

    def check_templates(self) -> None:
        if TEMPLATE_MARKER in self.page.content():
            self.problems.append(f"missing template variable on {self.page.url}")

    def snap(self, name: str) -> None:
        """Screenshot the current page at desktop and phone width."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)
            path = SCREENSHOTS / f"{name}-{label}.png"
            self.page.screenshot(path=str(path), full_page=True)
            self.shots.append(path)
        self.page.set_viewport_size(DESKTOP)
        self.check_templates()


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is missing: run `make browser`")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module.

    Playwright's sync API runs an event loop in the test's thread while it
    is open: per module, so it is closed again before tests that start
    event loops of their own (asyncio.run) and Django's check against ORM
    calls beside a running loop is lifted only meanwhile.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launched(sync_playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launched(sync_playwright: Any) -> Iterator[Any]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def journey(browser: Any, live_server: Any, settings: Any) -> Iterator[Journey]:
    """A fresh browser context on the live server; fails on console errors."""
    settings.TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = TEMPLATE_MARKER
    # The server's first request imports every view; on a busy machine that
    # takes longer than a page load should, so it happens before the browser.
    for path in ("/healthz", "/accounts/login/"):
        urllib.request.urlopen(live_server.url + path, timeout=180).read()  # noqa: S310
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    trip = Journey(page=page, base_url=live_server.url)

    def on_console(message: Any) -> None:
        if message.type == "error":
            trip.problems.append(f"console error on {page.url}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: trip.problems.append(f"page error: {error}"))
    yield trip
    context.close()
    assert trip.problems == []
