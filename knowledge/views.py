"""Dashboard pages of workspace documents (templates in knowledge/)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenancy.dashboard import READ, Page, workspace_page


# TODO: renders only its frame until the documents section lands
# (remove when the documents pages are built).
@workspace_page({"GET": READ})
def documents(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "documents"})
