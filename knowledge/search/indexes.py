"""Per-workspace HNSW indexes for large workspaces (the tiered design).

Measured on this kind of machine (docs/search.md): exact search through the
workspace B-tree costs about 0.25 ms + 2 µs per row and finds every true
neighbour; one global HNSW index filtered to a small workspace misses half
of them. So a workspace is searched exactly until it holds
``ATRIUM_VECTOR_INDEX_THRESHOLD`` embedded chunks, and then through a partial
HNSW index of its own, built ``CONCURRENTLY`` (no write lock) and without
parallel workers (pgvector 0.8.0's parallel HNSW build has CVE-2026-3172).

Creating indexes is schema work: it runs as the owner role
(``DATABASE_OWNER_URL``) from ``manage.py atrium_vector_indexes``, never from
the web or worker processes.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper

from knowledge.models import Chunk
from tenancy.context import as_workspace
from tenancy.db import owner_connection
from tenancy.selectors import workspace_ids_for_system

logger = logging.getLogger(__name__)


def index_name(workspace_id: uuid.UUID) -> str:
    return f"chunks_hnsw_{workspace_id.hex}"


@dataclass(frozen=True)
class BuildParameters:
    """How a workspace's HNSW graph is built (the same for every workspace)."""

    m: int
    ef_construction: int

    @classmethod
    def configured(cls) -> BuildParameters:
        m = int(settings.ATRIUM_HNSW_M)
        ef_construction = int(settings.ATRIUM_HNSW_EF_CONSTRUCTION)
        # pgvector's own bounds: m 2..100, ef_construction >= 2 x m.
        if not 2 <= m <= 100 or not 2 * m <= ef_construction <= 1000:
            raise ImproperlyConfigured(
                "ATRIUM_HNSW_M must be 2..100 and ATRIUM_HNSW_EF_CONSTRUCTION"
                " between 2 x ATRIUM_HNSW_M and 1000"
            )
        return cls(m=m, ef_construction=ef_construction)

    @property
    def with_clause(self) -> str:
        return f"WITH (m = {self.m}, ef_construction = {self.ef_construction})"

    def built_into(self, definition: str) -> bool:
        """Whether ``pg_get_indexdef`` text shows these parameters."""
        found = dict(re.findall(r"(m|ef_construction)='?(\d+)'?", definition))
        return found == {"m": str(self.m), "ef_construction": str(self.ef_construction)}


@dataclass(frozen=True)
class IndexChange:
    workspace_id: uuid.UUID
    chunks: int
    action: str  # "created", "rebuilt", "dropped", "kept", "below"


def _build_memory() -> str:
    value = str(settings.ATRIUM_INDEX_BUILD_MEMORY)
    if not re.fullmatch(r"\d+(kB|MB|GB)", value):
        raise ImproperlyConfigured(
            "ATRIUM_INDEX_BUILD_MEMORY must look like 512MB or 1GB"
        )
    return value


def _embedded_chunks(workspace_id: uuid.UUID) -> int:
    # The owner is subject to forced RLS as well: count inside the
    # workspace's own context.
    with as_workspace(workspace_id):
        return Chunk.objects.filter(
            workspace_id=workspace_id, embedding__isnull=False
        ).count()


def _index_state(
    connection: BaseDatabaseWrapper, name: str
) -> tuple[bool, bool, str] | None:
    """(valid, ready, definition) of the index, or None if there is none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid)"
            " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]), str(row[2]))


def vector_index_sync(
    connection: BaseDatabaseWrapper, workspace_id: uuid.UUID, *, threshold: int
) -> IndexChange:
    """Create, rebuild or drop one workspace's HNSW index as its size says.

    ``connection`` must be the owner's, outside any transaction
    (CONCURRENTLY cannot run inside one).
    """
    dims = int(settings.ATRIUM_EMBEDDING_DIMENSIONS)
    name = index_name(workspace_id)
    chunks = _embedded_chunks(workspace_id)
    state = _index_state(connection, name)
    quoted = connection.ops.quote_name(name)

    with connection.cursor() as cursor:
        if chunks < threshold:
            if state is None:
                return IndexChange(workspace_id, chunks, "below")
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quoted}")
            return IndexChange(workspace_id, chunks, "dropped")

        wanted_dims = f"vector({dims})"
        parameters = BuildParameters.configured()
        if (
            state is not None
            and state[0]
            and state[1]
            and wanted_dims in state[2]
            and parameters.built_into(state[2])
        ):
            return IndexChange(workspace_id, chunks, "kept")
        action = "created"
        if state is not None:
            # A failed concurrent build leaves an invalid index; a change of
            # embedding dimension leaves one the queries no longer match; a
            # change of build parameters is applied by building again.
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {quoted}")
            action = "rebuilt"
        cursor.execute("SET max_parallel_maintenance_workers = 0")
        # A graph that does not fit in memory builds many times slower.
        cursor.execute(f"SET maintenance_work_mem = '{_build_memory()}'")
        cursor.execute(
            f"CREATE INDEX CONCURRENTLY {quoted} ON chunks USING hnsw"
            f" ((embedding::vector({dims})) vector_cosine_ops)"
            f" {parameters.with_clause}"
            f" WHERE workspace_id = '{workspace_id}'::uuid"
        )
    logger.info(
        "vector index %s for workspace %s (%s chunks)", action, workspace_id, chunks
    )
    return IndexChange(workspace_id, chunks, action)


def _orphan_indexes(
    connection: BaseDatabaseWrapper, workspace_ids: list[uuid.UUID]
) -> list[str]:
    """Workspace HNSW indexes whose workspace is gone (or deleted)."""
    live = {index_name(workspace_id) for workspace_id in workspace_ids}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid"
            " JOIN pg_class t ON t.oid = i.indrelid"
            " WHERE t.relname = 'chunks' AND c.relname ~ '^chunks_hnsw_[0-9a-f]{32}$'"
        )
        return [name for (name,) in cursor.fetchall() if name not in live]


def vector_indexes_sync(*, threshold: int | None = None) -> list[IndexChange]:
    """Bring every workspace's HNSW index in line with its size (as owner).

    Indexes of workspaces that no longer exist are dropped too.
    """
    limit = (
        threshold if threshold is not None else settings.ATRIUM_VECTOR_INDEX_THRESHOLD
    )
    changes = []
    with owner_connection() as connection:
        workspace_ids = list(workspace_ids_for_system())
        for workspace_id in workspace_ids:
            changes.append(
                vector_index_sync(connection, workspace_id, threshold=int(limit))
            )
        for name in _orphan_indexes(connection, workspace_ids):
            with connection.cursor() as cursor:
                cursor.execute(
                    "DROP INDEX CONCURRENTLY IF EXISTS"
                    f" {connection.ops.quote_name(name)}"
                )
            workspace_id = uuid.UUID(name.removeprefix("chunks_hnsw_"))
            changes.append(IndexChange(workspace_id, 0, "dropped"))
            logger.info("vector index %s of a deleted workspace dropped", name)
    return changes
