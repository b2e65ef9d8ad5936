"""Dashboard pages of chat and agents (templates in agents/)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenancy.dashboard import READ, Page, workspace_page


# TODO: render only their frame until the chat and agents sections land
# (remove when those pages are built).
@workspace_page({"GET": READ})
def chat(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "chat"})


@workspace_page({"GET": READ})
def agents(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "agents"})
