"""Verifiable deletion: purge a deleted workspace or organization, with a receipt.

Deleting asks for erasure: the workspace (or organization) is soft-deleted
and its keys revoked at once, in the request's transaction, together with
an :class:`ErasureReceipt` and an audit record of who asked. When that
commits a task purges it, without an undo window:

1. in one transaction, the rows of every table with a ``workspace_id``
   column (found in the catalog, so a new table is covered the day it is
   created), the workspace rows, the workspace's audit records (through the
   one narrow door ``atrium_audit_erase``), and for an organization its own
   rows (members, the organization);
2. after commit, what each app registered as an eraser
   (``tenancy.portability``): stored files, the knowledge graph, buffered
   usage; then export archives and every Redis key that names the
   workspace, the organization or one of the workspace's API keys;
3. the receipt is completed with the counts of each step.

The audit log keeps only the ``*.erasure_requested`` records, which carry
no ``workspace_id`` (the workspace is named in the receipt instead). See
docs/data.md.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

import redis
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import User
from tenancy import ratelimit, services
from tenancy.context import as_user, as_workspace
from tenancy.data_models import ErasureReceipt, ErasureStatus, ErasureSubject
from tenancy.exports import export_directory
from tenancy.models import APIKey, Organization, Workspace
from tenancy.portability import erasers

logger = logging.getLogger(__name__)

# Tables purged by statements of their own, not by the workspace_id sweep.
_SPECIAL = ("audit_log",)


# --- asking ------------------------------------------------------------------


def _dispatch(receipt: ErasureReceipt) -> None:
    from tenancy import tasks

    transaction.on_commit(
        lambda: tasks.erasure_purge.delay(str(receipt.pk), str(receipt.requested_by_id))
    )


@transaction.atomic
def workspace_erasure_request(*, workspace: Workspace, actor: User) -> ErasureReceipt:
    """Delete ``workspace`` now and purge it for good right after commit."""
    services.workspace_delete(workspace=workspace)
    receipt = ErasureReceipt.objects.create(
        subject_type=ErasureSubject.WORKSPACE,
        subject_id=workspace.pk,
        organization_id=workspace.organization_id,
        requested_by_id=actor.pk,
    )
    services.audit_record(
        action="workspace.erasure_requested",
        organization_id=workspace.organization_id,
        target=receipt,
        metadata={"workspace_id": str(workspace.pk), "name": workspace.name},
    )
    _dispatch(receipt)
    return receipt


@transaction.atomic
def organization_erasure_request(
    *, organization: Organization, actor: User
) -> ErasureReceipt:
    """Delete ``organization`` and its workspaces now; purge them after commit."""
    services.organization_delete(organization=organization)
    receipt = ErasureReceipt.objects.create(
        subject_type=ErasureSubject.ORGANIZATION,
        subject_id=organization.pk,
        organization_id=organization.pk,
        requested_by_id=actor.pk,
    )
    services.audit_record(
        action="organization.erasure_requested",
        organization_id=organization.pk,
        target=receipt,
        metadata={"name": organization.name},
    )
    _dispatch(receipt)
    return receipt


# --- purging rows ------------------------------------------------------------


def tables_with_column(column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE c.table_schema = 'public' AND c.column_name = %s"
            " AND t.table_type = 'BASE TABLE' ORDER BY 1",
            [column],
        )
        return [row[0] for row in cursor.fetchall()]


def _delete(table: str, column: str, value: uuid.UUID) -> int:
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        # Table and column names come from the catalog, not from input.
        cursor.execute(f"DELETE FROM {quoted} WHERE {column} = %s", [value])  # noqa: S608
        return cursor.rowcount


def _audit_erase(
    *, workspace_id: uuid.UUID | None, organization_id: uuid.UUID | None
) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atrium_audit_erase(%s, %s)", [workspace_id, organization_id]
        )
        return int(cursor.fetchone()[0])


def _workspace_rows_purge(
    workspace_id: uuid.UUID, tables: dict[str, int]
) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """Delete the workspace's rows (inside the caller's transaction).

    Foreign keys are checked at commit (Django makes them deferrable), so
    the order of the tables does not matter; the workspace row goes last
    because system work sees a workspace only while its row exists.
    """
    with as_workspace(workspace_id):
        prepared = {
            eraser.name: eraser.prepare(workspace_id)
            for eraser in erasers()
            if eraser.prepare is not None
        }
        key_ids = list(
            APIKey.objects.filter(workspace_id=workspace_id).values_list(
                "pk", flat=True
            )
        )
        audit = _audit_erase(workspace_id=workspace_id, organization_id=None)
        tables["audit_log"] = tables.get("audit_log", 0) + audit
        for table in tables_with_column("workspace_id"):
            if table in _SPECIAL:
                continue
            tables[table] = tables.get(table, 0) + _delete(
                table, "workspace_id", workspace_id
            )
        tables["workspaces"] = tables.get("workspaces", 0) + _delete(
            "workspaces", "id", workspace_id
        )
    return prepared, key_ids


def _organization_rows_purge(
    organization_id: uuid.UUID, tables: dict[str, int]
) -> None:
    """Delete the organization's own rows, as the person who asked."""
    audit = _audit_erase(workspace_id=None, organization_id=organization_id)
    tables["audit_log"] = tables.get("audit_log", 0) + audit
    # The organization goes before its members: who may delete it is
    # decided by membership rows, which must still exist at that moment.
    tables["organizations"] = _delete("organizations", "id", organization_id)
    for table in tables_with_column("organization_id"):
        if table in (*_SPECIAL, "erasure_receipts") or table in tables:
            continue
        tables[table] = _delete(table, "organization_id", organization_id)


# --- purging the rest --------------------------------------------------------


def _redis_clients() -> list[redis.Redis]:
    clients = [ratelimit.client()]
    cache_url = settings.CACHES["default"].get("LOCATION")
    if isinstance(cache_url, str) and cache_url != settings.REDIS_URL:
        clients.append(redis.Redis.from_url(cache_url))
    return clients


def cache_keys_erase(ids: Iterable[uuid.UUID]) -> int:
    """Delete every Redis key whose name carries one of ``ids``.

    Rate-limit windows, monthly counters, graph budgets, chat streams and
    any cached lookup are all named after the workspace, organization or
    key they belong to, so a scan by name finds them without a list that
    could fall behind the code.
    """
    needles = {form for value in ids for form in (str(value), value.hex)}
    removed = 0
    for client in _redis_clients():
        doomed = [
            key
            for key in client.scan_iter(count=1000)
            if any(n in key.decode(errors="ignore") for n in needles)
        ]
        for start in range(0, len(doomed), 500):
            removed += int(client.delete(*doomed[start : start + 500]))
    return removed


def export_files_erase(workspace_id: uuid.UUID) -> int:
    directory = export_directory(workspace_id).rstrip("/")
    try:
        _, names = default_storage.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        default_storage.delete(f"{directory}/{name}")
    return len(names)


def _merge(into: dict[str, Any], result: dict[str, Any]) -> None:
    for key, value in result.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            into[key] = value
        else:
            into[key] = into.get(key, 0) + value


def erasure_run(*, receipt_id: uuid.UUID, requested_by_id: uuid.UUID) -> str:
    """Purge what the receipt names and complete the receipt; idempotent."""
    with as_user(requested_by_id):
        receipt = ErasureReceipt.objects.filter(pk=receipt_id).first()
        # A failed purge may be run again; a completed one is left alone.
        if receipt is None or receipt.status not in (
            ErasureStatus.PENDING,
            ErasureStatus.FAILED,
        ):
            return receipt.status if receipt else "missing"
        if receipt.subject_type == ErasureSubject.WORKSPACE:
            workspace_ids = [receipt.subject_id]
        else:
            workspace_ids = list(
                Workspace.objects.filter(organization_id=receipt.subject_id)
                .order_by("created_at")
                .values_list("pk", flat=True)
            )
    removed: dict[str, Any] = dict(receipt.removed)
    prepared: dict[uuid.UUID, dict[str, Any]] = {}
    key_ids: list[uuid.UUID] = []

    if "tables" not in removed:
        tables: dict[str, int] = {}
        try:
            with transaction.atomic():
                for workspace_id in workspace_ids:
                    prepared[workspace_id], keys = _workspace_rows_purge(
                        workspace_id, tables
                    )
                    key_ids.extend(keys)
                with as_user(requested_by_id):
                    if receipt.subject_type == ErasureSubject.ORGANIZATION:
                        _organization_rows_purge(receipt.subject_id, tables)
                    removed["tables"] = dict(sorted(tables.items()))
                    removed["workspaces"] = [str(w) for w in workspace_ids]
                    ErasureReceipt.objects.filter(pk=receipt_id).update(removed=removed)
        except DatabaseError as error:
            # Nothing was removed (one transaction); the receipt must say so
            # rather than stay pending, and the purge may be run again.
            logger.exception("erasure %s: rows not purged", receipt_id)
            with as_user(requested_by_id):
                ErasureReceipt.objects.filter(pk=receipt_id).update(
                    status=ErasureStatus.FAILED,
                    errors=[{"step": "rows", "error": type(error).__name__}],
                )
            return str(ErasureStatus.FAILED)

    # The rows are gone for good; what follows lives outside PostgreSQL.
    # Each step is independent, so one failing (an unreachable graph) must
    # not stop the others; it is recorded and the receipt says "partial".
    errors: list[dict[str, str]] = []
    for workspace_id in workspace_ids:
        for eraser in erasers():
            try:
                result = eraser.erase(
                    workspace_id, prepared.get(workspace_id, {}).get(eraser.name)
                )
            except Exception as error:
                logger.exception(
                    "eraser %s failed for workspace %s", eraser.name, workspace_id
                )
                errors.append({"step": eraser.name, "error": type(error).__name__})
                continue
            _merge(removed.setdefault(eraser.name, {}), result)
        _merge(
            removed.setdefault("export_files", {}),
            {"removed": export_files_erase(workspace_id)},
        )
    try:
        subjects = [*workspace_ids, receipt.organization_id, *key_ids]
        if receipt.subject_type == ErasureSubject.WORKSPACE:
            subjects.remove(receipt.organization_id)
        removed["cache"] = {"keys": cache_keys_erase(subjects)}
    except redis.RedisError as error:
        errors.append({"step": "cache", "error": type(error).__name__})

    status = ErasureStatus.PARTIAL if errors else ErasureStatus.COMPLETED
    with as_user(requested_by_id):
        ErasureReceipt.objects.filter(pk=receipt_id).update(
            status=status,
            removed=removed,
            errors=errors,
            completed_at=timezone.now(),
        )
    logger.info(
        "erasure %s of %s %s: %s", receipt_id, receipt.subject_type,
        receipt.subject_id, status,
    )  # fmt: skip
    return str(status)
