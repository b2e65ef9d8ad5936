"""Dashboard pages of organizations and workspaces (templates in tenancy/)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.models import User
from tenancy import selectors, services
from tenancy.dashboard import (
    LAST_WORKSPACE,
    MANAGE,
    READ,
    Page,
    organization_page,
    workspace_page,
)
from tenancy.errors import AtriumError
from tenancy.forms import OrganizationForm, WorkspaceForm
from tenancy.views.invitations import PENDING_INVITATION


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send the user to the workspace they last used, or help them make one.

    An invitation opened before signing up or logging in comes first.
    """
    token = request.session.get(PENDING_INVITATION)
    if isinstance(token, str):
        return redirect("app:invitation", token)
    workspaces = selectors.workspace_list_for_user(user=_user(request))
    last = request.session.get(LAST_WORKSPACE)
    if last:
        try:
            chosen = workspaces.filter(pk=uuid.UUID(last)).first()
        except ValueError:
            chosen = None
        if chosen is not None:
            return redirect("app:chat", chosen.pk)
    first = workspaces.first()
    if first is not None:
        return redirect("app:chat", first.pk)

    organization = selectors.organization_list_for_user(user=_user(request)).first()
    if organization is not None:
        return redirect("app:organization", organization.pk)
    return redirect("app:organization_new")


@login_required
@require_http_methods(["GET", "POST"])
def organization_new(request: HttpRequest) -> HttpResponse:
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        organization = services.organization_create(
            actor=_user(request), name=form.cleaned_data["name"]
        )
        messages.success(request, f"Organization “{organization.name}” created.")
        return redirect("app:organization", organization.pk)
    return render(request, "tenancy/organization_new.html", {"form": form})


@organization_page({"GET": READ, "POST": MANAGE})
def organization_detail(request: HttpRequest, page: Page) -> HttpResponse:
    """The organization's workspaces, and a form to add one within the plan."""
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                organization=page.organization,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
        except AtriumError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Workspace “{workspace.name}” created.")
            return redirect("app:workspace", workspace.pk)

    workspaces = selectors.workspace_list_for_user(user=_user(request)).filter(
        organization=page.organization
    )
    return render(
        request,
        "tenancy/organization_detail.html",
        {"form": form, "workspaces": workspaces, "nav": "organization"},
    )


@workspace_page({"GET": READ})
def workspace_home(request: HttpRequest, page: Page) -> HttpResponse:
    return redirect("app:chat", page.ws.pk)
