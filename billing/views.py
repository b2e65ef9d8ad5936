"""Dashboard pages of usage, billing and analytics (templates in billing/)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenancy.dashboard import READ, Page, organization_page


# TODO: render only their frame until the billing and analytics sections land
# (remove when those pages are built).
@organization_page({"GET": READ})
def billing(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "billing"})


@organization_page({"GET": READ})
def analytics(request: HttpRequest, page: Page) -> HttpResponse:
    return render(request, "dashboard/pending.html", {"nav": "analytics"})
