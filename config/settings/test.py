"""Test settings: the real PostgreSQL and Redis, on databases of their own."""

import base64
import hashlib
import os

os.environ.setdefault(
    "DJANGO_SECRET_KEY", "django-insecure-test-key-long-enough-for-hs256-signing"
)
# Tests use their own Redis database so a running `make run` is undisturbed.
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/1")

from config.settings.base import *  # noqa: F403
from config.settings.base import ATRIUM_ENCRYPTION_KEYS, DATABASES, SECRET_KEY

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# ATRIUM_TEST_DB_SUFFIX gives concurrent suites on one machine their own
# test databases (the default suite uses test_atrium).
DATABASES["default"]["TEST"] = {
    "NAME": "test_atrium" + os.environ.get("ATRIUM_TEST_DB_SUFFIX", ""),
    "SERIALIZE": False,
}
# The graph is off unless a test turns it on against its own FalkorDB server
# (tests/support/graph.py), so other suites' documents skip the graph stage.
ATRIUM_GRAPH_BACKEND = os.environ.get("ATRIUM_GRAPH_BACKEND", "off")
# Requests past the monthly limit are refused at once unless a test grants
# a grace period.
ATRIUM_OVER_LIMIT_GRACE_DAYS = 0

if not ATRIUM_ENCRYPTION_KEYS:
    # A development key derived from the secret key; production sets its own.
    ATRIUM_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(f"provider-keys:{SECRET_KEY}".encode()).digest()
        ).decode()
    ]
# Webhook tests deliver to receivers on 127.0.0.1.
ATRIUM_WEBHOOK_ALLOW_LOOPBACK = True
# The provider tests' model servers listen on 127.0.0.1; tests of the
# address guard narrow this list themselves.
ATRIUM_PROVIDER_ALLOWED_HOSTS = ["127.0.0.0/8", "::1"]
