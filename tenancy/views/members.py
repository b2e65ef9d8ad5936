"""Dashboard pages of people: organization members and workspace members.

Everyone in the organization (or workspace) sees who is in it; owners and
admins change it. Each change is its own POST URL, so the guard's per-method
rule covers forged posts exactly as it covers the buttons.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import User
from tenancy import invitations, selectors, services
from tenancy.dashboard import (
    MANAGE,
    READ,
    Page,
    organization_page,
    workspace_page,
)
from tenancy.errors import AtriumError
from tenancy.forms import (
    OrganizationInvitationForm,
    OrganizationRoleForm,
    WorkspaceInvitationForm,
    WorkspaceMemberAddForm,
    WorkspaceRoleForm,
)
from tenancy.models import (
    Invitation,
    OrganizationMember,
    OrganizationRole,
    WorkspaceMember,
    WorkspaceRole,
)

OWNER = OrganizationRole.OWNER


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise Http404
    return user


def _site_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/")


# --- organization people -----------------------------------------------------


def _organization_people(
    request: HttpRequest,
    page: Page,
    form: OrganizationInvitationForm | None = None,
    status: int = 200,
) -> HttpResponse:
    members = list(selectors.organization_member_list(organization=page.organization))
    owners = sum(1 for member in members if member.role == OWNER)
    is_owner = page.organization_role == OWNER
    rows = [
        {
            "member": member,
            "is_self": member.user_id == request.user.pk,
            # Only owners touch owners; the last owner stays an owner.
            "can_change": page.can_manage_organization
            and (is_owner or member.role != OWNER)
            and not (member.role == OWNER and owners == 1),
        }
        for member in members
    ]
    roles = [
        (value, label)
        for value, label in OrganizationRole.choices
        if is_owner or value != OWNER
    ]
    if form is None and page.can_manage_organization:
        form = OrganizationInvitationForm()
    if form is not None:
        form.fields["role"].choices = roles  # type: ignore[attr-defined]
    context = {
        "nav": "organization_members",
        "rows": rows,
        "roles": roles,
        "invitations": invitations.invitation_list(organization=page.organization),
        "form": form,
        "invitation_days": settings.ATRIUM_INVITATION_TTL_DAYS,
    }
    return render(request, "tenancy/people.html", context, status=status)


@organization_page({"GET": READ, "POST": MANAGE})
def organization_members(request: HttpRequest, page: Page) -> HttpResponse:
    """The organization's people and pending invitations; POST invites someone."""
    if request.method != "POST":
        return _organization_people(request, page)

    form = OrganizationInvitationForm(request.POST)
    if form.is_valid():
        role = form.cleaned_data["role"]
        if role == OWNER and page.organization_role != OWNER:
            form.add_error("role", "Only owners can invite owners.")
        else:
            try:
                created = invitations.invitation_create(
                    organization=page.organization,
                    email=form.cleaned_data["email"],
                    role=role,
                    invited_by=_user(request),
                    site_url=_site_url(request),
                )
            except AtriumError as error:
                form.add_error(None, error.message)
            else:
                messages.success(
                    request, f"Invitation sent to {created.invitation.email}."
                )
                return redirect("app:organization_members", page.organization.pk)
    return _organization_people(request, page, form, status=400)


def _organization_member(page: Page, user_id: uuid.UUID) -> OrganizationMember:
    member = (
        OrganizationMember.objects.filter(
            organization=page.organization, user_id=user_id
        )
        .select_related("user", "organization")
        .first()
    )
    if member is None:
        raise Http404("No such member.")
    return member


@require_POST
@organization_page({"POST": MANAGE})
def organization_member_role(
    request: HttpRequest, page: Page, user_id: uuid.UUID
) -> HttpResponse:
    member = _organization_member(page, user_id)
    form = OrganizationRoleForm(request.POST)
    back = redirect("app:organization_members", page.organization.pk)
    if not form.is_valid():
        messages.error(request, "Choose a role from the list.")
        return back
    role = form.cleaned_data["role"]
    if OWNER in (role, member.role) and page.organization_role != OWNER:
        messages.error(request, "Only owners can grant or take away the owner role.")
        return back
    try:
        services.organization_member_change_role(member=member, role=role)
    except AtriumError as error:
        messages.error(request, error.message)
    else:
        label = OrganizationRole(role).label.lower()
        messages.success(request, f"{member.user.email}'s role is now {label}.")
    return back


@require_POST
@organization_page({"POST": MANAGE})
def organization_member_remove(
    request: HttpRequest, page: Page, user_id: uuid.UUID
) -> HttpResponse:
    member = _organization_member(page, user_id)
    if member.role == OWNER and page.organization_role != OWNER:
        messages.error(request, "Only owners can remove an owner.")
        return redirect("app:organization_members", page.organization.pk)
    try:
        services.organization_member_remove(member=member)
    except AtriumError as error:
        messages.error(request, error.message)
        return redirect("app:organization_members", page.organization.pk)

    messages.success(request, f"{member.user.email} was removed from the organization.")
    if member.user_id == request.user.pk:
        return redirect("app:home")
    return redirect("app:organization_members", page.organization.pk)


def _revoke(request: HttpRequest, invitation: Invitation | None) -> None:
    if invitation is None:
        raise Http404("No such invitation.")
    try:
        invitations.invitation_revoke(invitation=invitation)
    except AtriumError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The invitation to {invitation.email} was revoked.")


@require_POST
@organization_page({"POST": MANAGE})
def organization_invitation_revoke(
    request: HttpRequest, page: Page, invitation_id: uuid.UUID
) -> HttpResponse:
    _revoke(
        request,
        invitations.invitation_get(
            organization=page.organization, invitation_id=invitation_id
        ),
    )
    return redirect("app:organization_members", page.organization.pk)


# --- workspace members -------------------------------------------------------


def _workspace_people(
    request: HttpRequest,
    page: Page,
    *,
    add_form: WorkspaceMemberAddForm | None = None,
    invite_form: WorkspaceInvitationForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = page.ws
    candidates = selectors.workspace_member_candidates(workspace=workspace)
    if page.can_manage:
        add_form = add_form or WorkspaceMemberAddForm(
            candidates=candidates, prefix="add"
        )
        invite_form = invite_form or WorkspaceInvitationForm(prefix="invite")
    # Organization owners and admins are admins of every workspace already.
    managers = list(
        selectors.organization_member_list(organization=page.organization)
        .filter(role__in=[OrganizationRole.OWNER, OrganizationRole.ADMIN])
        .exclude(user__workspace_memberships__workspace=workspace)
    )
    members = list(selectors.workspace_member_list(workspace=workspace))
    context = {
        "nav": "workspace_members",
        "members": members,
        "managers": managers,
        "member_count": len(members) + len(managers),
        "roles": WorkspaceRole.choices,
        "invitations": invitations.invitation_list(
            organization=page.organization, workspace=workspace
        ),
        "add_form": add_form,
        "invite_form": invite_form,
        "has_candidates": candidates.exists(),
        "invitation_days": settings.ATRIUM_INVITATION_TTL_DAYS,
    }
    return render(request, "tenancy/workspace_members.html", context, status=status)


@workspace_page({"GET": READ, "POST": MANAGE})
def workspace_members(request: HttpRequest, page: Page) -> HttpResponse:
    """The workspace's people; POST grants a role to an organization member."""
    if request.method != "POST":
        return _workspace_people(request, page)

    form = WorkspaceMemberAddForm(
        request.POST,
        candidates=selectors.workspace_member_candidates(workspace=page.ws),
        prefix="add",
    )
    if form.is_valid():
        try:
            member = services.workspace_member_add(
                workspace=page.ws,
                user=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
            )
        except AtriumError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{member.user.email} was added.")
            return redirect("app:workspace_members", page.ws.pk)
    return _workspace_people(request, page, add_form=form, status=400)


@require_POST
@workspace_page({"POST": MANAGE})
def workspace_invite(request: HttpRequest, page: Page) -> HttpResponse:
    form = WorkspaceInvitationForm(request.POST, prefix="invite")
    if form.is_valid():
        try:
            created = invitations.invitation_create(
                organization=page.organization,
                workspace=page.ws,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=_user(request),
                site_url=_site_url(request),
            )
        except AtriumError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Invitation sent to {created.invitation.email}.")
            return redirect("app:workspace_members", page.ws.pk)
    return _workspace_people(request, page, invite_form=form, status=400)


def _workspace_member(page: Page, user_id: uuid.UUID) -> WorkspaceMember:
    member = (
        WorkspaceMember.objects.filter(workspace=page.ws, user_id=user_id)
        .select_related("user", "workspace")
        .first()
    )
    if member is None:
        raise Http404("No such member.")
    return member


@require_POST
@workspace_page({"POST": MANAGE})
def workspace_member_role(
    request: HttpRequest, page: Page, user_id: uuid.UUID
) -> HttpResponse:
    member = _workspace_member(page, user_id)
    form = WorkspaceRoleForm(request.POST)
    if form.is_valid():
        services.workspace_member_change_role(
            member=member, role=form.cleaned_data["role"]
        )
        messages.success(request, f"{member.user.email}'s role was changed.")
    else:
        messages.error(request, "Choose a role from the list.")
    return redirect("app:workspace_members", page.ws.pk)


@require_POST
@workspace_page({"POST": MANAGE})
def workspace_member_remove(
    request: HttpRequest, page: Page, user_id: uuid.UUID
) -> HttpResponse:
    member = _workspace_member(page, user_id)
    services.workspace_member_remove(member=member)
    messages.success(request, f"{member.user.email} was removed from the workspace.")
    return redirect("app:workspace_members", page.ws.pk)


@require_POST
@workspace_page({"POST": MANAGE})
def workspace_invitation_revoke(
    request: HttpRequest, page: Page, invitation_id: uuid.UUID
) -> HttpResponse:
    _revoke(
        request,
        invitations.invitation_get(
            organization=page.organization,
            invitation_id=invitation_id,
            workspace=page.ws,
        ),
    )
    return redirect("app:workspace_members", page.ws.pk)
