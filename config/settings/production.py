"""Production settings: no defaults for secrets, HTTPS everywhere.

Every variable in ``REQUIRED`` must be set; a missing one stops the process at
start-up with ImproperlyConfigured instead of running on a development default.
"""

from config.settings import base

REQUIRED = (
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
)
for name in REQUIRED:
    base.env.str(name)  # raises ImproperlyConfigured when unset

from config.settings.base import *  # noqa: E402,F403
from config.settings.base import env  # noqa: E402

DEBUG = False
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# The header (and value) the TLS-terminating proxy sets, as
# "HTTP_X_FORWARDED_PROTO,https". Trust it only behind a proxy that always
# overwrites it; set it empty when clients reach gunicorn directly.
_proxy_header = env.list(
    "DJANGO_SECURE_PROXY_SSL_HEADER", default=["HTTP_X_FORWARDED_PROTO", "https"]
)
SECURE_PROXY_SSL_HEADER = (
    (_proxy_header[0], _proxy_header[1]) if len(_proxy_header) == 2 else None
)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Paths (regular expressions, no leading slash) served over plain HTTP too,
# for scrapers inside the private network; the probes never redirect.
SECURE_REDIRECT_EXEMPT = env.list("DJANGO_SECURE_REDIRECT_EXEMPT", default=[])
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
