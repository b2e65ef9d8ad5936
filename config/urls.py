from django.contrib import admin
from django.urls import path

from config import health

admin.site.site_header = "Atrium staff"
admin.site.site_title = "Atrium staff"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
