import os

from django.core.asgi import get_asgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_asgi_application()
# Import every view now, while the worker boots, instead of inside the first
# request: the probes answer without the URLconf, so a worker must not look
# ready and then spend seconds importing views inside a user's request.
get_resolver().url_patterns  # noqa: B018
