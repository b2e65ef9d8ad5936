from django.contrib import admin
from django.urls import include, path

from config import health

admin.site.site_header = "Atrium staff"
admin.site.site_title = "Atrium staff"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("v1/", include("config.api_urls")),
    # Stripe webhooks, verified and recorded by dj-stripe (docs/billing.md).
    path("stripe/", include("djstripe.urls", namespace="djstripe")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]

handler404 = "tenancy.api.errors.not_found"
handler500 = "tenancy.api.errors.server_error"
