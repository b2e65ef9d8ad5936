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
