"""Move a single-tenant agentic-RAG database into one Atrium workspace.

The source has the original product's four tables: ``documents``, ``chunks``,
``sessions`` and ``messages``. They land in a default organization, workspace
and agent, as the design's migration plan describes (docs/importing.md).

The import keeps the source's ids, so it is idempotent (a row already here is
skipped) and resumable (each batch is one transaction: a document arrives
with all of its chunks or not at all, and a re-run carries on where a crash
stopped). Imported chunks keep their text and boundaries; they are embedded
by this deployment's model through the normal ingestion pipeline, unless
their stored vectors come from that same model and are kept.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from psycopg import sql
from psycopg.rows import dict_row

from accounts.models import User
from agents.models import Agent, ChatSession, Message, MessageRole, ModelProvider
from agents.services import agent_create
from knowledge.ingestion.pipeline import dispatch_embed, stages_initial
from knowledge.models import Chunk, Document, DocumentStatus
from knowledge.services import workspace_document_count_refresh
from tenancy import quotas, services
from tenancy.context import as_user, as_workspace
from tenancy.errors import AtriumError
from tenancy.models import Organization, PlanTier, Workspace

logger = logging.getLogger(__name__)

SOURCE_TABLES = ("documents", "chunks", "sessions", "messages")
DEFAULT_PROMPT = (
    "You are a helpful assistant that answers from the knowledge base. Search "
    "it before answering, cite the passages you use, and say so when the "
    "knowledge base does not hold the answer."
)
ROLES = {role.value for role in MessageRole}


class ImportSourceError(AtriumError):
    code = "import_source_invalid"


@dataclass
class TableCount:
    """What happened to one source table's rows in this run."""

    source: int = 0
    imported: int = 0
    present: int = 0
    skipped: int = 0


@dataclass
class ImportReport:
    organization_id: uuid.UUID
    workspace_id: uuid.UUID
    agent_id: uuid.UUID
    tables: dict[str, TableCount] = field(
        default_factory=lambda: {name: TableCount() for name in SOURCE_TABLES}
    )
    # Why rows were skipped, e.g. "documents: duplicate content of <id>".
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Target:
    """Where the import lands, created on the first run."""

    owner_email: str
    organization_name: str = "Default Organization"
    organization_slug: str = "default"
    workspace_name: str = "Default Workspace"
    workspace_slug: str = "default"
    agent_name: str = "General Assistant"
    agent_slug: str = "general"


def _owner(email: str) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user
    # No password: the owner sets one through the password-reset flow.
    return User.objects.create_user(email, None, email_verified=False)


def _target(target: Target) -> tuple[Organization, Workspace, Agent]:
    owner = _owner(target.owner_email)
    with as_user(owner.pk):
        organization = Organization.objects.filter(
            slug=target.organization_slug,
            deleted_at__isnull=True,
            memberships__user=owner,
        ).first()
        if organization is None:
            organization = services.organization_create(
                actor=owner,
                name=target.organization_name,
                slug=target.organization_slug,
                plan_tier=PlanTier.ENTERPRISE,
            )
        workspace = organization.workspaces.filter(
            slug=target.workspace_slug, deleted_at__isnull=True
        ).first()
        if workspace is None:
            workspace = services.workspace_create(
                organization=organization,
                name=target.workspace_name,
                slug=target.workspace_slug,
                description="Imported from a single-tenant installation.",
            )
    with as_workspace(workspace.pk):
        agent = Agent.objects.filter(
            workspace=workspace, slug=target.agent_slug
        ).first()
        if agent is None:
            agent = agent_create(
                workspace=workspace,
                name=target.agent_name,
                slug=target.agent_slug,
                system_prompt=DEFAULT_PROMPT,
                model_provider=ModelProvider.EXTRACTIVE,
                model_name="extractive",
                enabled_tools=["vector_search", "graph_search", "hybrid_search"],
            )
    return organization, workspace, agent


def _check_source(source: psycopg.Connection[dict[str, Any]]) -> None:
    rows = source.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        [list(SOURCE_TABLES)],
    ).fetchall()
    missing = sorted(set(SOURCE_TABLES) - {row["table_name"] for row in rows})
    if missing:
        raise ImportSourceError(
            "The source database lacks the single-tenant tables.", missing=missing
        )


def _batches(
    source: psycopg.Connection[dict[str, Any]], query: str, size: int
) -> Iterator[list[dict[str, Any]]]:
    """Read ``query`` (ordered by ``created_at, id``) in keyset pages."""
    after: tuple[Any, Any] | None = None
    while True:
        if after is None:
            rows = source.execute(f"{query} ORDER BY created_at, id LIMIT %s", [size])
        else:
            rows = source.execute(
                f"{query} WHERE (created_at, id) > (%s, %s)"
                f" ORDER BY created_at, id LIMIT %s",
                [*after, size],
            )
        page = rows.fetchall()
        if not page:
            return
        yield page
        after = (page[-1]["created_at"], page[-1]["id"])


def _vector(value: Any) -> list[float] | None:
    """A pgvector value read as text (``[0.1,0.2]``) as floats."""
    if value is None:
        return None
    if isinstance(value, str):
        return [float(part) for part in value.strip("[]").split(",") if part]
    return [float(part) for part in value]


class Importer:
    """One run of the import; ``run`` returns what it did."""

    def __init__(
        self,
        *,
        source_url: str,
        target: Target,
        batch_size: int = 200,
        keep_embeddings_from: str = "",
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.source_url = source_url
        self.target = target
        self.batch_size = batch_size
        # The model that made the source's vectors, when it is this
        # deployment's model: those vectors are kept instead of recomputed.
        self.keep_embeddings_from = keep_embeddings_from
        self.progress = progress or (lambda message: None)

    def run(self) -> ImportReport:
        with psycopg.connect(self.source_url, row_factory=dict_row) as source:
            source.read_only = True
            _check_source(source)
            organization, workspace, agent = _target(self.target)
            report = ImportReport(organization.pk, workspace.pk, agent.pk)
            for table in SOURCE_TABLES:
                count = sql.SQL("SELECT count(*) AS n FROM {}").format(
                    sql.Identifier(table)
                )
                row = source.execute(count).fetchone()
                report.tables[table].source = row["n"] if row else 0

            self._documents(source, workspace, report)
            self._sessions(source, workspace, agent, report)
            self._messages(source, workspace, report)
        return report

    # --- documents and chunks -------------------------------------------

    def _documents(
        self,
        source: psycopg.Connection[dict[str, Any]],
        workspace: Workspace,
        report: ImportReport,
    ) -> None:
        query = "SELECT id, title, source, content, metadata, created_at FROM documents"
        for page in _batches(source, query, self.batch_size):
            chunks = source.execute(
                "SELECT id, document_id, content, embedding::text AS embedding,"
                " chunk_index, metadata, token_count FROM chunks"
                " WHERE document_id = ANY(%s) ORDER BY document_id, chunk_index",
                [[row["id"] for row in page]],
            ).fetchall()
            with transaction.atomic(), as_workspace(workspace.pk):
                self._document_page(workspace, page, chunks, report)
            self.progress(
                f"documents: {report.tables['documents'].imported} imported,"
                f" {report.tables['documents'].present} already here"
            )

    def _document_page(
        self,
        workspace: Workspace,
        page: list[dict[str, Any]],
        chunks: list[dict[str, Any]],
        report: ImportReport,
    ) -> None:
        counts, chunk_counts = report.tables["documents"], report.tables["chunks"]
        present = set(
            Document.objects.filter(
                workspace=workspace, pk__in=[row["id"] for row in page]
            ).values_list("pk", flat=True)
        )
        by_document: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for chunk in chunks:
            by_document.setdefault(chunk["document_id"], []).append(chunk)

        fresh = [row for row in page if row["id"] not in present]
        counts.present += len(page) - len(fresh)
        chunk_counts.present += sum(
            len(by_document.get(row["id"], [])) for row in page if row["id"] in present
        )
        if not fresh:
            return
        current = Document.objects.filter(workspace=workspace).count()
        organization = Organization.objects.get(pk=workspace.organization_id)
        limit = quotas.limit_for(organization, "documents_per_workspace")
        if limit is not None and current + len(fresh) > limit:
            raise ImportSourceError(
                "The import would pass the workspace's document limit.",
                limit=limit,
                current=current,
                incoming=len(fresh),
            )

        for row in fresh:
            content = row["content"] or ""
            digest = hashlib.sha256(content.encode()).hexdigest()
            twin = (
                Document.objects.filter(workspace=workspace, content_hash=digest)
                .values_list("pk", flat=True)
                .first()
            )
            own_chunks = by_document.get(row["id"], [])
            if twin is not None:
                counts.skipped += 1
                chunk_counts.skipped += len(own_chunks)
                report.notes.append(
                    f"documents: {row['id']} has the same content as {twin}; skipped"
                )
                continue
            self._document_create(workspace, row, content, digest, own_chunks)
            counts.imported += 1
            chunk_counts.imported += len(own_chunks)
        workspace_document_count_refresh(workspace_id=workspace.pk)

    def _document_create(
        self,
        workspace: Workspace,
        row: dict[str, Any],
        content: str,
        digest: str,
        chunks: list[dict[str, Any]],
    ) -> None:
        now = timezone.now().isoformat()
        stages = stages_initial()
        for stage in ("parsing", "chunking"):
            stages[stage] = {"state": "done", "finished": now, "imported": True}
        stages["embedding"] = {"state": "pending"}
        name = row["source"] or ""
        document = Document.objects.create(
            id=row["id"],
            workspace=workspace,
            title=(row["title"] or name or "Untitled")[:500],
            source=name[:1000],
            content_type="text/markdown" if name.endswith(".md") else "text/plain",
            size_bytes=len(content.encode()),
            content_hash=digest,
            content=content,
            metadata={**(row["metadata"] or {}), "imported": True},
            status=DocumentStatus.EMBEDDING,
            progress=20,
            stages=stages,
            chunk_count=len(chunks),
        )
        # Keep the source's creation time; auto_now_add sets the import time.
        Document.objects.filter(pk=document.pk).update(created_at=row["created_at"])

        dimensions = settings.ATRIUM_EMBEDDING_DIMENSIONS
        Chunk.objects.bulk_create(
            [self._chunk(workspace, document, chunk, dimensions) for chunk in chunks]
        )
        dispatch_embed(workspace_id=workspace.pk, document_id=document.pk)

    def _chunk(
        self,
        workspace: Workspace,
        document: Document,
        row: dict[str, Any],
        dimensions: int,
    ) -> Chunk:
        vector = _vector(row["embedding"]) if self.keep_embeddings_from else None
        keep = vector is not None and len(vector) == dimensions
        return Chunk(
            id=row["id"],
            workspace=workspace,
            document=document,
            chunk_index=row["chunk_index"],
            content=row["content"],
            token_count=row["token_count"] or 0,
            metadata=row["metadata"] or {},
            embedding=vector if keep else None,
            embedding_model=self.keep_embeddings_from if keep else "",
        )

    # --- sessions and messages ------------------------------------------

    def _sessions(
        self,
        source: psycopg.Connection[dict[str, Any]],
        workspace: Workspace,
        agent: Agent,
        report: ImportReport,
    ) -> None:
        counts = report.tables["sessions"]
        query = "SELECT id, user_id, metadata, created_at FROM sessions"
        for page in _batches(source, query, self.batch_size):
            with transaction.atomic(), as_workspace(workspace.pk):
                present = set(
                    ChatSession.objects.filter(
                        workspace=workspace, pk__in=[row["id"] for row in page]
                    ).values_list("pk", flat=True)
                )
                fresh = [row for row in page if row["id"] not in present]
                ChatSession.objects.bulk_create(
                    [
                        ChatSession(
                            id=row["id"],
                            workspace=workspace,
                            agent=agent,
                            metadata={
                                **(row["metadata"] or {}),
                                "imported": True,
                                "source_user_id": row["user_id"],
                            },
                        )
                        for row in fresh
                    ]
                )
                for row in fresh:
                    ChatSession.objects.filter(pk=row["id"]).update(
                        created_at=row["created_at"]
                    )
            counts.present += len(page) - len(fresh)
            counts.imported += len(fresh)

    def _messages(
        self,
        source: psycopg.Connection[dict[str, Any]],
        workspace: Workspace,
        report: ImportReport,
    ) -> None:
        counts = report.tables["messages"]
        query = (
            "SELECT id, session_id, role, content, metadata, created_at FROM messages"
        )
        for page in _batches(source, query, self.batch_size):
            with transaction.atomic(), as_workspace(workspace.pk):
                ids = [row["id"] for row in page]
                present = set(
                    Message.objects.filter(workspace=workspace, pk__in=ids).values_list(
                        "pk", flat=True
                    )
                )
                sessions = set(
                    ChatSession.objects.filter(
                        workspace=workspace,
                        pk__in={row["session_id"] for row in page},
                    ).values_list("pk", flat=True)
                )
                fresh = []
                for row in page:
                    if row["id"] in present:
                        counts.present += 1
                    elif row["session_id"] not in sessions or row["role"] not in ROLES:
                        counts.skipped += 1
                        report.notes.append(
                            f"messages: {row['id']} has no imported session or an"
                            f" unknown role; skipped"
                        )
                    else:
                        fresh.append(row)
                Message.objects.bulk_create(
                    [
                        Message(
                            id=row["id"],
                            workspace=workspace,
                            session_id=row["session_id"],
                            role=row["role"],
                            content=row["content"] or "",
                            metadata={**(row["metadata"] or {}), "imported": True},
                        )
                        for row in fresh
                    ]
                )
                for row in fresh:
                    Message.objects.filter(pk=row["id"]).update(
                        created_at=row["created_at"]
                    )
            counts.imported += len(fresh)
