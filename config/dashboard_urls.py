"""The customer dashboard under ``/app/``: every app contributes its pages.

One namespace (``app``) keeps templates' ``{% url 'app:…' %}`` short; each
app owns its own patterns in ``<app>/urls.py``.
"""

from agents.urls import urlpatterns as agents_pages
from billing.urls import urlpatterns as billing_pages
from knowledge.urls import urlpatterns as knowledge_pages
from tenancy.urls import urlpatterns as tenancy_pages

app_name = "app"

urlpatterns = [*tenancy_pages, *knowledge_pages, *agents_pages, *billing_pages]
