"""Dashboard pages of a workspace's settings and API keys."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenancy.dashboard import READ, Page, workspace_page


# TODO: these pages render only their frame until the settings section lands
# (remove when the workspace settings and API key pages are built).
@workspace_page({"GET": READ})
def workspace_settings(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "workspace_settings"})


@workspace_page({"GET": READ})
def api_keys(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "keys"})
