from django.urls import path

from tenancy.views import invitations, members, organizations, workspace

ORG = "organizations/<uuid:organization_id>"
WS = "w/<uuid:workspace_id>"

urlpatterns = [
    path("", organizations.home, name="home"),
    path("organizations/new/", organizations.organization_new, name="organization_new"),
    path(f"{ORG}/", organizations.organization_detail, name="organization"),
    path(f"{ORG}/people/", members.organization_members, name="organization_members"),
    path(
        f"{ORG}/people/<uuid:user_id>/role/",
        members.organization_member_role,
        name="organization_member_role",
    ),
    path(
        f"{ORG}/people/<uuid:user_id>/remove/",
        members.organization_member_remove,
        name="organization_member_remove",
    ),
    path(
        f"{ORG}/invitations/<uuid:invitation_id>/revoke/",
        members.organization_invitation_revoke,
        name="organization_invitation_revoke",
    ),
    path("invitations/<str:token>/", invitations.invitation, name="invitation"),
    path(f"{WS}/", organizations.workspace_home, name="workspace"),
    path(f"{WS}/settings/", workspace.workspace_settings, name="workspace_settings"),
    path(
        f"{WS}/settings/delete/",
        workspace.workspace_delete,
        name="workspace_delete",
    ),
    path(f"{WS}/keys/", workspace.api_keys, name="api_keys"),
    path(
        f"{WS}/keys/<uuid:key_id>/revoke/",
        workspace.api_key_revoke,
        name="api_key_revoke",
    ),
    path(f"{WS}/members/", members.workspace_members, name="workspace_members"),
    path(f"{WS}/members/invite/", members.workspace_invite, name="workspace_invite"),
    path(
        f"{WS}/members/<uuid:user_id>/role/",
        members.workspace_member_role,
        name="workspace_member_role",
    ),
    path(
        f"{WS}/members/<uuid:user_id>/remove/",
        members.workspace_member_remove,
        name="workspace_member_remove",
    ),
    path(
        f"{WS}/invitations/<uuid:invitation_id>/revoke/",
        members.workspace_invitation_revoke,
        name="workspace_invitation_revoke",
    ),
]
