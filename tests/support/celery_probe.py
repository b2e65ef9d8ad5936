"""Celery app for the isolation tests' worker: Atrium's app plus probe tasks."""

from config.celery import app
from tests.support import tasks  # noqa: F401  (registers the probe tasks)

__all__ = ["app"]
