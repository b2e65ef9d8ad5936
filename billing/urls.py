from django.urls import path

from billing import views

urlpatterns = [
    path(
        "organizations/<uuid:organization_id>/billing/", views.billing, name="billing"
    ),
    path(
        "organizations/<uuid:organization_id>/billing/checkout/",
        views.billing_checkout,
        name="billing_checkout",
    ),
    path(
        "organizations/<uuid:organization_id>/billing/portal/",
        views.billing_portal,
        name="billing_portal",
    ),
    path(
        "organizations/<uuid:organization_id>/analytics/",
        views.analytics,
        name="analytics",
    ),
    path(
        "organizations/<uuid:organization_id>/analytics/usage.csv",
        views.analytics_csv,
        name="analytics_csv",
    ),
]
