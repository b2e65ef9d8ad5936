"""Dashboard pages of a workspace's settings and API keys.

Who may do what comes from the API views' own ``access`` maps, so a page and
its endpoint cannot drift apart: a viewer reads the settings, an admin
changes them; only admins see and manage keys.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.models import User
from tenancy import erasure, services
from tenancy.api.access import Rule
from tenancy.api.serializers import APIKeyCreateIn
from tenancy.api.views import WorkspaceDetailView, WorkspaceKeyDetailView
from tenancy.api.views import WorkspaceKeysView as KeysAPI
from tenancy.dashboard import LAST_WORKSPACE, READ, Page, workspace_page
from tenancy.errors import AtriumError
from tenancy.forms import APIKeyCreateForm, WorkspaceDeleteForm, WorkspaceSettingsForm
from tenancy.models import APIKey

_WORKSPACE_RULES = WorkspaceDetailView.access
_SECTIONS = [
    ("general", "General", ["name", "slug", "description"]),
    ("ingestion", "Ingestion", ["chunk_size", "chunk_overlap"]),
    ("graph", "Knowledge graph", ["graph_budget_episodes"]),
    (
        "chat",
        "Chat limits",
        ["chat_token_budget", "chat_daily_token_budget", "chat_max_steps"],
    ),
]
# Nonces of key forms already used in this session (the latest few).
_USED_NONCES = "atrium_api_key_nonces"


def _user(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _may(page: Page, rule: Rule | None) -> bool:
    return (
        rule is not None
        and rule.role is not None
        and page.workspace_at_least(rule.role)
    )


# --- settings ---------------------------------------------------------------


def _settings_page(
    request: HttpRequest,
    page: Page,
    form: WorkspaceSettingsForm,
    delete_form: WorkspaceDeleteForm,
    *,
    status: int = 200,
) -> HttpResponse:
    can_change = _may(page, _WORKSPACE_RULES["PATCH"])
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "tenancy/workspace_settings.html",
        {
            "nav": "workspace_settings",
            "form": form,
            "sections": [
                (key, title, [form[name] for name in names])
                for key, title, names in _SECTIONS
            ],
            "can_change": can_change,
            "can_delete": _may(page, _WORKSPACE_RULES["DELETE"]),
            "delete_form": delete_form,
        },
        status=status,
    )


@workspace_page({"GET": READ, "POST": _WORKSPACE_RULES["PATCH"]})
def workspace_settings(request: HttpRequest, page: Page) -> HttpResponse:
    """Name, description, ingestion, graph and chat settings of the workspace."""
    workspace = page.ws
    form = WorkspaceSettingsForm(request.POST or None, workspace=workspace)
    delete_form = WorkspaceDeleteForm(workspace=workspace)
    if request.method != "POST":
        return _settings_page(request, page, form, delete_form)

    if form.is_valid():
        fields = form.changed_fields()
        if not fields:
            messages.info(request, "Nothing changed.")
            return redirect("app:workspace_settings", workspace.pk)
        try:
            services.workspace_update(workspace=workspace, fields=fields)
        except AtriumError as error:
            field = error.details.get("field")
            form.add_error(field if field in form.fields else None, error.message)
        else:
            messages.success(request, "Workspace settings saved.")
            return redirect("app:workspace_settings", workspace.pk)
    return _settings_page(request, page, form, delete_form, status=400)


@workspace_page({"POST": _WORKSPACE_RULES["DELETE"]})
def workspace_delete(request: HttpRequest, page: Page) -> HttpResponse:
    """Delete the workspace once its name is typed out."""
    workspace = page.ws
    form = WorkspaceDeleteForm(request.POST, workspace=workspace)
    if not form.is_valid():
        settings_form = WorkspaceSettingsForm(workspace=workspace)
        return _settings_page(request, page, settings_form, form, status=400)

    actor = _user(request)
    if actor is None:  # the page guard admits signed-in people only
        raise PermissionDenied
    # The same erasure as the API's: soft-deleted now, purged right after.
    erasure.workspace_erasure_request(workspace=workspace, actor=actor)
    if request.session.get(LAST_WORKSPACE) == str(workspace.pk):
        del request.session[LAST_WORKSPACE]
    messages.success(
        request,
        f"Workspace “{workspace.name}” deleted; its API keys are revoked and "
        "its data is being erased.",
    )
    return redirect("app:organization", page.organization.pk)


# --- API keys ---------------------------------------------------------------


def _keys_page(
    request: HttpRequest,
    page: Page,
    form: APIKeyCreateForm | None,
    *,
    created: services.CreatedAPIKey | None = None,
    status: int = 200,
) -> HttpResponse:
    can_manage = _may(page, KeysAPI.access["POST"])
    can_list = _may(page, KeysAPI.access["GET"])
    keys = APIKey.objects.filter(workspace=page.ws).order_by("-created_at")
    now = timezone.now()
    rows = [
        {"key": key, "status": _status(key, now), "scopes": sorted(key.scopes)}
        for key in (keys if can_list else [])
    ]
    if form is None and can_manage:
        form = APIKeyCreateForm(initial={"nonce": secrets.token_urlsafe(16)})
    return render(
        request,
        "tenancy/api_keys.html",
        {
            "nav": "keys",
            "rows": rows,
            "form": form,
            "created": created,
            "can_list": can_list,
            "can_manage": can_manage,
        },
        status=status,
    )


def _status(key: APIKey, now: datetime) -> str:
    if key.revoked_at is not None or not key.is_active:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def _nonce_used(request: HttpRequest, nonce: str) -> bool:
    """Remember ``nonce``; True if this session had already used it."""
    used: list[str] = list(request.session.get(_USED_NONCES, []))
    if nonce in used:
        return True
    request.session[_USED_NONCES] = [*used[-19:], nonce]
    return False


@never_cache
@workspace_page({"GET": READ, "POST": KeysAPI.access["POST"]})
def api_keys(request: HttpRequest, page: Page) -> HttpResponse:
    """List the workspace's keys; create one and show its secret this once."""
    if request.method != "POST":
        return _keys_page(request, page, None)

    form = APIKeyCreateForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, page, form, status=400)
    body = form.api_input()
    data = APIKeyCreateIn(data=body)
    valid = data.is_valid()
    if form.errors or not valid:
        for name, errors in data.errors.items():
            target = {"expires_at": "expiry"}.get(name, name)
            for error in errors:
                form.add_error(target if target in form.fields else None, str(error))
        return _keys_page(request, page, form, status=400)
    if _nonce_used(request, form.cleaned_data["nonce"]):
        messages.info(
            request,
            "That key was already created; its secret was shown only once. "
            "Create another key if you did not copy it.",
        )
        return redirect("app:api_keys", page.ws.pk)

    created = services.api_key_create(
        workspace=page.ws, created_by=_user(request), **data.validated_data
    )
    # The secret is in this response only: never in the session, never stored.
    return _keys_page(request, page, None, created=created, status=201)


def _key_of(page: Page, key_id: uuid.UUID) -> APIKey:
    # Scoped to the page's workspace: another workspace's key id is a 404.
    return get_object_or_404(
        APIKey.objects.select_related("workspace"), workspace=page.ws, pk=key_id
    )


@workspace_page(
    {
        "GET": WorkspaceKeyDetailView.access["GET"],
        "POST": WorkspaceKeyDetailView.access["DELETE"],
    }
)
def api_key_revoke(request: HttpRequest, page: Page, key_id: uuid.UUID) -> HttpResponse:
    """Ask, then revoke a key for good; programs using it stop at once."""
    api_key = _key_of(page, key_id)
    if request.method == "POST":
        services.api_key_revoke(api_key=api_key, reason="revoked in the dashboard")
        messages.success(request, f"Key “{api_key.name}” revoked.")
        return redirect("app:api_keys", page.ws.pk)
    return render(
        request, "tenancy/api_keys_revoke.html", {"nav": "keys", "key": api_key}
    )
