from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health
from tenancy.observability import views as observability

admin.site.site_header = "Atrium staff"
admin.site.site_title = "Atrium staff"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("app/", include("config.dashboard_urls")),
    path("", RedirectView.as_view(pattern_name="app:home"), name="root"),
    path(
        "favicon.ico",
        RedirectView.as_view(url=f"{settings.STATIC_URL}atrium/favicon.svg"),
    ),
    path("v1/", include("config.api_urls")),
    # Stripe webhooks, verified and recorded by dj-stripe (docs/billing.md).
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", observability.metrics, name="metrics"),
]

handler404 = "tenancy.api.errors.not_found"
handler500 = "tenancy.api.errors.server_error"
