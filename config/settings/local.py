"""Development settings: a working default for everything, DEBUG on."""

import base64
import hashlib
import os

os.environ.setdefault(
    # Development only; production.py refuses to start without a real one.
    "DJANGO_SECRET_KEY",
    "django-insecure-local-development-key-not-for-production",
)

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_ENCRYPTION_KEYS, SECRET_KEY, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

if not ATRIUM_ENCRYPTION_KEYS:
    # A development key derived from the secret key; production sets its own.
    ATRIUM_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"provider-keys:{SECRET_KEY}".encode()).digest()
        ).decode()
    ]

# Readable log lines in development; set ATRIUM_LOG_FORMAT=json to see
# production's.
ATRIUM_LOG_FORMAT = env("ATRIUM_LOG_FORMAT", default="text")
LOGGING["handlers"]["console"]["formatter"] = ATRIUM_LOG_FORMAT  # type: ignore[index]  # noqa: F405
ATRIUM_WEBHOOK_ALLOW_LOOPBACK = env.bool("ATRIUM_WEBHOOK_ALLOW_LOOPBACK", default=True)
# A model server on this machine (Ollama, llama.cpp) for organizations' own
# base URLs; other private addresses stay refused.
ATRIUM_PROVIDER_ALLOWED_HOSTS = env.list(
    "ATRIUM_PROVIDER_ALLOWED_HOSTS", default=["127.0.0.0/8", "::1"]
)
