from django.urls import path

from billing import views

urlpatterns = [
    path(
        "organizations/<uuid:organization_id>/billing/", views.billing, name="billing"
    ),
    path(
        "organizations/<uuid:organization_id>/analytics/",
        views.analytics,
        name="analytics",
    ),
]
