"""Probe tasks that report what a worker's database session can see.

They count rows with raw SQL and no workspace filter: only row-level security
and the task's context stand between them and other tenants' rows.
"""

from __future__ import annotations

from celery import shared_task
from django.db import connection

from tenancy.tasks import workspace_task

TABLES = ("documents", "chunks", "agents", "api_keys", "workspace_members")


def _visible() -> dict[str, list[str]]:
    seen = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"SELECT DISTINCT workspace_id::text FROM {table}")
            seen[table] = sorted(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT pg_backend_pid()")
        seen["backend_pid"] = [str(cursor.fetchone()[0])]
    return seen


@workspace_task()
def probe_in_workspace(workspace_id: str) -> dict[str, list[str]]:
    return _visible()


@shared_task
def probe_without_context() -> dict[str, list[str]]:
    return _visible()


@shared_task
def probe_fail(workspace_id: str) -> None:
    """Fail, for the tests of task outcomes (the message is not logged)."""
    raise ValueError(f"probe failure in {workspace_id}: document text here")


@shared_task(bind=True, max_retries=1)
def probe_retry_once(self, workspace_id: str) -> int:  # type: ignore[no-untyped-def]
    """Ask to be retried on the first run, then succeed."""
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return int(self.request.retries)
