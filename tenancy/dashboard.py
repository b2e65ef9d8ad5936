"""What every dashboard page stands on: who may see it, and what it may show.

Dashboard views are thin: ``workspace_page`` and ``organization_page`` resolve
the workspace or organization in the URL through the very functions the API
uses (``tenancy.api.access``), so a page obeys the same rules as the endpoint
behind it. An id the user cannot see is a 404; a role too low for the request
method is a 403, for forged form posts as much as for links.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions

from accounts.models import User
from tenancy import selectors
from tenancy.api.access import (
    ORGANIZATION_RANK,
    WORKSPACE_RANK,
    Rule,
    enforce,
    organization_access,
    workspace_access,
)
from tenancy.context import Principal
from tenancy.models import Organization, Workspace

P = ParamSpec("P")

# Paths whose pages are drawn inside the dashboard's frame.
FRAMED_PATHS = ("/app/", "/accounts/")

# The session key that remembers the workspace a user last worked in.
LAST_WORKSPACE = "atrium_workspace"


@dataclass(frozen=True)
class Page:
    """The organization (and workspace) a page is about, and the user's roles."""

    organization: Organization
    organization_role: str | None
    workspace: Workspace | None = None
    workspace_role: str | None = None

    @property
    def ws(self) -> Workspace:
        """The workspace of a ``workspace_page`` (never missing there)."""
        if self.workspace is None:
            raise Http404("No such workspace.")
        return self.workspace

    def workspace_at_least(self, role: str) -> bool:
        if self.workspace_role is None:
            return False
        return WORKSPACE_RANK[self.workspace_role] >= WORKSPACE_RANK[role]

    def organization_at_least(self, role: str) -> bool:
        if self.organization_role is None:
            return False
        return ORGANIZATION_RANK[self.organization_role] >= ORGANIZATION_RANK[role]

    @property
    def can_write(self) -> bool:
        """Members and admins change workspace content; viewers only read."""
        return self.workspace_at_least("member")

    @property
    def can_manage(self) -> bool:
        """Workspace admins manage keys, members, agents and settings."""
        return self.workspace_at_least("admin")

    @property
    def can_manage_organization(self) -> bool:
        return self.organization_at_least("admin")


def _principal(request: HttpRequest) -> Principal:
    principal = getattr(request, "principal", None)
    if not isinstance(principal, Principal) or principal.user_id is None:
        raise PermissionDenied
    return principal


def _rule_for(access: dict[str, Rule], request: HttpRequest) -> Rule | None:
    method = request.method or "GET"
    # A HEAD request is a GET without its body.
    return access.get("GET" if method == "HEAD" else method)


def _enforce(
    rule: Rule | None, principal: Principal, role: str | None, ranks: dict[str, int]
) -> None:
    try:
        enforce(rule, principal, role, ranks)
    except (exceptions.MethodNotAllowed, exceptions.PermissionDenied):
        raise PermissionDenied from None


PageView = Callable[Concatenate[HttpRequest, Page, P], HttpResponse]


def _guarded(
    access: dict[str, Rule],
    url_kwarg: str,
    resolve: Callable[[HttpRequest, Principal, uuid.UUID, Rule | None], Page],
) -> Callable[[PageView[P]], Callable[..., HttpResponse]]:
    """Sign-in, then ``resolve`` the URL's ``url_kwarg`` to a Page (404 or 403)."""

    def decorate(view: PageView[P]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            object_id = kwargs.pop(url_kwarg)
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            principal = _principal(request)
            page = resolve(request, principal, object_id, _rule_for(access, request))
            request.page = page  # type: ignore[attr-defined]
            return view(request, page, *args, **kwargs)

        return wrapper

    return decorate


def _workspace(
    request: HttpRequest,
    principal: Principal,
    workspace_id: uuid.UUID,
    rule: Rule | None,
) -> Page:
    try:
        found = workspace_access(principal, workspace_id)
    except exceptions.NotFound:
        raise Http404("No such workspace.") from None
    _enforce(rule, principal, found.role, WORKSPACE_RANK)
    request.session[LAST_WORKSPACE] = str(found.workspace.pk)
    return Page(
        organization=found.workspace.organization,
        organization_role=found.organization_role,
        workspace=found.workspace,
        workspace_role=found.role,
    )


def _organization(
    request: HttpRequest,
    principal: Principal,
    organization_id: uuid.UUID,
    rule: Rule | None,
) -> Page:
    try:
        found = organization_access(principal, organization_id)
    except exceptions.NotFound:
        raise Http404("No such organization.") from None
    _enforce(rule, principal, found.role, ORGANIZATION_RANK)
    return Page(organization=found.organization, organization_role=found.role)


def workspace_page(
    access: dict[str, Rule],
) -> Callable[[PageView[P]], Callable[..., HttpResponse]]:
    """Guard a view under ``/app/w/<workspace_id>/`` with a per-method role map.

    The view receives the resolved :class:`Page` after the request and before
    its URL arguments (``workspace_id`` is consumed here).
    """
    return _guarded(access, "workspace_id", _workspace)


def organization_page(
    access: dict[str, Rule],
) -> Callable[[PageView[P]], Callable[..., HttpResponse]]:
    """Guard a view under ``/app/organizations/<organization_id>/``."""
    return _guarded(access, "organization_id", _organization)


# Read by anyone who can see the page; written by members; managed by admins.
READ = Rule(role="viewer")
WRITE = Rule(role="member")
MANAGE = Rule(role="admin")


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context for the dashboard's selectors and navigation.

    The account pages (``/accounts/``) wear the dashboard's frame too.
    """
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not request.path.startswith(FRAMED_PATHS):
        return {}
    return {
        "oidc_providers_enabled": bool(settings.ATRIUM_OIDC_PROVIDERS),
        "nav_organizations": list(selectors.organization_list_for_user(user=user)),
        "nav_workspaces": list(
            selectors.workspace_list_for_user(user=user).select_related("organization")
        ),
        "page": getattr(request, "page", None),
    }
