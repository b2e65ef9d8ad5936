from django.urls import path

from tenancy import views

urlpatterns = [
    path("", views.home, name="home"),
    path("organizations/new/", views.organization_new, name="organization_new"),
    path(
        "organizations/<uuid:organization_id>/",
        views.organization_detail,
        name="organization",
    ),
    path(
        "organizations/<uuid:organization_id>/people/",
        views.organization_members,
        name="organization_members",
    ),
    path("w/<uuid:workspace_id>/", views.workspace_home, name="workspace"),
    path(
        "w/<uuid:workspace_id>/settings/",
        views.workspace_settings,
        name="workspace_settings",
    ),
    path("w/<uuid:workspace_id>/keys/", views.api_keys, name="api_keys"),
    path(
        "w/<uuid:workspace_id>/members/",
        views.workspace_members,
        name="workspace_members",
    ),
]
