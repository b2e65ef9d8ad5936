"""The Celery application shared by every worker and beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("atrium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Keep each worker's database connection across tasks (Django's CONN_MAX_AGE
# then governs it) instead of reconnecting per task. The tenant context is
# transaction-local, so a reused connection carries nothing between tasks.
app.conf["CELERY_DB_REUSE_MAX"] = 1000

# One log line and the outcome metrics of every task (docs/operations.md).
from tenancy.observability import task_signals  # noqa: E402,F401
