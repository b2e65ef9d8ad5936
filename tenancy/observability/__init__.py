"""Logs, metrics and alerts for operating Atrium (docs/operations.md).

Every app may attach what it knows to the current request's or task's log
line with :func:`annotate`; the middleware and the Celery signal handlers
write the line and count the metrics when the work ends. It lives in
``tenancy`` so every app to its right can call it.
"""

from tenancy.observability.context import annotate, current_record

__all__ = ["annotate", "current_record"]
