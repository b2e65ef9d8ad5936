"""The page an invitation link opens: see it, sign up or log in, accept it.

The link works for someone signed in and for someone who is not: the token
is kept in the session, so after signing up (and verifying the address) or
logging in the person comes back here. Signing up from the link with the
invited address counts as verifying it: the link proved they read its mail.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from accounts.models import User
from accounts.services import user_verified_emails
from tenancy.errors import AtriumError
from tenancy.invitations import (
    InvitationPreview,
    invitation_accept,
    invitation_path,
    invitation_preview,
)

# The session key that remembers an invitation across sign-up or log-in.
PENDING_INVITATION = "atrium_invitation"


def _error_page(request: HttpRequest, error: AtriumError) -> HttpResponse:
    request.session.pop(PENDING_INVITATION, None)
    return render(
        request,
        "tenancy/invitation.html",
        {"error": error.message, "code": error.code},
        status=error.status,
    )


@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    try:
        preview = invitation_preview(token=token)
    except AtriumError as error:
        return _error_page(request, error)

    here = invitation_path(token)
    user = request.user
    if not isinstance(user, User):
        if request.method == "POST":
            return redirect(f"{reverse('account_login')}?{urlencode({'next': here})}")
        request.session[PENDING_INVITATION] = token
        get_adapter().stash_verified_email(request, preview.email)
        return _preview_page(request, preview, here)

    # Signed in and here: the invitation needs no more remembering.
    request.session.pop(PENDING_INVITATION, None)
    if request.method == "POST":
        try:
            invitation_accept(user=user, token=token)
        except AtriumError as error:
            if error.code == "invitation_wrong_email":
                return _preview_page(request, preview, here, status=403)
            return _error_page(request, error)
        place = preview.workspace_name or preview.organization_name
        messages.success(request, f"Welcome to {place}.")
        if preview.workspace_id is not None:
            return redirect("app:workspace", preview.workspace_id)
        return redirect("app:organization", preview.organization_id)
    return _preview_page(request, preview, here)


def _preview_page(
    request: HttpRequest, preview: InvitationPreview, here: str, status: int = 200
) -> HttpResponse:
    user = request.user
    matches = isinstance(user, User) and preview.email.lower() in (
        user_verified_emails(user=user)
    )
    query = urlencode({"next": here})
    context = {
        "invitation": preview,
        "matches": matches,
        "signup_url": f"{reverse('account_signup')}?"
        + urlencode({"next": here, "email": preview.email}),
        "login_url": f"{reverse('account_login')}?{query}",
    }
    return render(request, "tenancy/invitation.html", context, status=status)
