"""Views that show what the database lets a request see, for isolation tests.

They read tenant tables with raw SQL and no workspace filter, so the only
thing between a request and another tenant's rows is row-level security and
the context the middleware set.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import path

from tenancy.context import stream_as

TABLES = ("documents", "chunks", "agents", "api_keys", "workspaces")


def visible_rows(request: HttpRequest) -> JsonResponse:
    seen: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            column = "id" if table == "workspaces" else "workspace_id"
            cursor.execute(f"SELECT DISTINCT {column}::text FROM {table}")
            seen[table] = sorted(row[0] for row in cursor.fetchall())
    return JsonResponse(seen)


def _documents_seen() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT workspace_id::text FROM documents")
        return sorted(row[0] for row in cursor.fetchall())


def streamed_rows(request: HttpRequest) -> StreamingHttpResponse:
    """Read in the body, after the request's own transaction has ended."""

    def produce():  # type: ignore[no-untyped-def]
        yield "with-context:" + ",".join(_documents_seen()) + "\n"

    def without_context():  # type: ignore[no-untyped-def]
        yield from stream_as(request.principal, produce)  # type: ignore[attr-defined]
        yield "after:" + ",".join(_documents_seen()) + "\n"

    return StreamingHttpResponse(without_context(), content_type="text/plain")


def write_then_fail(request: HttpRequest) -> JsonResponse:
    """Write a row, then fail: the middleware must roll the write back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE workspaces SET description = 'changed by a failed request'"
        )
    raise RuntimeError("the view failed after writing")


urlpatterns = [
    path("probe/visible", visible_rows),
    path("probe/write-then-fail", write_then_fail),
    path("probe/stream", streamed_rows),
]
