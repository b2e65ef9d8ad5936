"""Development settings: a working default for everything, DEBUG on."""

import os

os.environ.setdefault(
    # Development only; production.py refuses to start without a real one.
    "DJANGO_SECRET_KEY",
    "django-insecure-local-development-key-not-for-production",
)

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
