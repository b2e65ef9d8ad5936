from django.urls import path

from tenancy.views import members, organizations, workspace

urlpatterns = [
    path("", organizations.home, name="home"),
    path("organizations/new/", organizations.organization_new, name="organization_new"),
    path(
        "organizations/<uuid:organization_id>/",
        organizations.organization_detail,
        name="organization",
    ),
    path(
        "organizations/<uuid:organization_id>/people/",
        members.organization_members,
        name="organization_members",
    ),
    path("w/<uuid:workspace_id>/", organizations.workspace_home, name="workspace"),
    path(
        "w/<uuid:workspace_id>/settings/",
        workspace.workspace_settings,
        name="workspace_settings",
    ),
    path(
        "w/<uuid:workspace_id>/settings/delete/",
        workspace.workspace_delete,
        name="workspace_delete",
    ),
    path("w/<uuid:workspace_id>/keys/", workspace.api_keys, name="api_keys"),
    path(
        "w/<uuid:workspace_id>/keys/<uuid:key_id>/revoke/",
        workspace.api_key_revoke,
        name="api_key_revoke",
    ),
    path(
        "w/<uuid:workspace_id>/members/",
        members.workspace_members,
        name="workspace_members",
    ),
]
