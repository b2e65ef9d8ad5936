"""Dashboard pages of people: organization members and workspace members."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenancy.dashboard import READ, Page, organization_page, workspace_page


# TODO: these pages render only their frame until the people section lands
# (remove when the members and invitations pages are built).
@organization_page({"GET": READ})
def organization_members(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "organization_members"})


@workspace_page({"GET": READ})
def workspace_members(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "workspace_members"})
