"""Importing a single-tenant agentic-RAG database (docs/importing.md).

Each test builds a real source database with the original product's four
tables, then runs the management command against it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from agents.legacy_import import Importer
from agents.models import Agent, ChatSession, Message
from knowledge.embeddings import get_provider
from knowledge.ingestion import pipeline
from knowledge.models import Chunk, Document, DocumentStatus
from knowledge.search.core import SearchRequest, search
from tenancy.context import as_user, as_workspace
from tenancy.models import Organization, OrganizationMember, Workspace
from tests.support.tenants import Tenant

SUPERUSER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE documents (
    id uuid PRIMARY KEY, title text NOT NULL, source text NOT NULL,
    content text NOT NULL, metadata jsonb DEFAULT '{}',
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now()
);
CREATE TABLE chunks (
    id uuid PRIMARY KEY,
    document_id uuid NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    content text NOT NULL, embedding vector(384), chunk_index integer NOT NULL,
    metadata jsonb DEFAULT '{}', token_count integer,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE sessions (
    id uuid PRIMARY KEY, user_id text, metadata jsonb DEFAULT '{}',
    created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
    expires_at timestamptz
);
CREATE TABLE messages (
    id uuid PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
    content text NOT NULL, metadata jsonb DEFAULT '{}',
    created_at timestamptz DEFAULT now()
);
"""
TOPICS = [
    "Resetting your password: open Settings, choose Security, and follow the "
    "emailed link to reset the password within one hour.",
    "Invoices are issued on the first day of each month and paid by card.",
    "The mobile app syncs offline notes when the phone reconnects.",
]
DOCUMENTS = 12
CHUNKS_PER_DOCUMENT = 3
SESSIONS = 4
MESSAGES_PER_SESSION = 3


def _source_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def _fill(url: str, *, with_messages: bool = True) -> dict[str, Any]:
    """Write the source rows; return their ids and one known vector."""
    started = datetime(2025, 3, 1, tzinfo=UTC)
    documents: list[uuid.UUID] = []
    vector = [0.0] * 384
    vector[7] = 1.0
    with psycopg.connect(url, autocommit=True) as source:
        source.execute(
            SCHEMA if with_messages else SCHEMA.split("CREATE TABLE mess")[0]
        )
        for number in range(DOCUMENTS):
            document_id = uuid.uuid4()
            documents.append(document_id)
            topic = TOPICS[number % len(TOPICS)]
            parts = [f"{topic} Note {number}, part {part}." for part in range(3)]
            source.execute(
                "INSERT INTO documents VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    document_id,
                    f"Guide {number}",
                    f"guide-{number}.md",
                    "\n\n".join(parts),
                    psycopg.types.json.Jsonb({"team": "support"}),
                    started + timedelta(minutes=number),
                    started + timedelta(minutes=number),
                ],
            )
            for index, text in enumerate(parts):
                source.execute(
                    "INSERT INTO chunks (id, document_id, content, embedding,"
                    " chunk_index, metadata, token_count)"
                    " VALUES (%s, %s, %s, %s::vector, %s, '{}', %s)",
                    [uuid.uuid4(), document_id, text, str(vector), index, 20],
                )
        # A second copy of the first document's content.
        source.execute(
            "INSERT INTO documents (id, title, source, content)"
            " SELECT %s, 'Copy', 'copy.md', content FROM documents WHERE id = %s",
            [uuid.uuid4(), documents[0]],
        )
        if with_messages:
            for number in range(SESSIONS):
                session_id = uuid.uuid4()
                source.execute(
                    "INSERT INTO sessions (id, user_id, created_at)"
                    " VALUES (%s, %s, %s)",
                    [session_id, f"user-{number}", started + timedelta(hours=number)],
                )
                for turn, role in enumerate(("user", "assistant", "user")):
                    source.execute(
                        "INSERT INTO messages"
                        " (id, session_id, role, content, created_at)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        [
                            uuid.uuid4(),
                            session_id,
                            role,
                            f"{role} turn {turn}",
                            started + timedelta(hours=number, minutes=turn),
                        ],
                    )
    return {"documents": documents, "vector": vector}


@pytest.fixture
def legacy() -> Iterator[tuple[str, dict[str, Any]]]:
    """A fresh single-tenant source database, dropped afterwards."""
    suffix = os.environ.get("ATRIUM_TEST_DB_SUFFIX", "")
    name = f"atrium_legacy{suffix}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(SUPERUSER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _source_url(name), _fill(_source_url(name))
    finally:
        with psycopg.connect(SUPERUSER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Record embed tasks queued on commit instead of sending them."""
    from knowledge import tasks

    sent: list[tuple[str, ...]] = []
    monkeypatch.setattr(tasks.embed_document, "delay", lambda *args: sent.append(args))
    return sent


def _import(url: str, *extra: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(
        "atrium_import_single_tenant",
        "--source",
        url,
        "--owner-email",
        "owner@legacy.example",
        "--batch-size",
        "5",
        *extra,
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def _workspace() -> Workspace:
    owner = User.objects.get(email="owner@legacy.example")
    with as_user(owner.pk):
        return Workspace.objects.select_related("organization").get(
            organization__slug="default", slug="default"
        )


def _table_line(output: str, table: str) -> list[int]:
    line = next(row for row in output.splitlines() if row.startswith(table + " "))
    return [int(value) for value in line.split()[1:]]


@pytest.mark.django_db
def test_import_lands_everything_in_a_default_workspace(
    legacy: tuple[str, dict[str, Any]],
    published: list[tuple[str, ...]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    url, source = legacy
    with django_capture_on_commit_callbacks(execute=True):
        output = _import(url)

    # source, imported, present, skipped
    assert _table_line(output, "documents") == [DOCUMENTS + 1, DOCUMENTS, 0, 1]
    chunks = DOCUMENTS * CHUNKS_PER_DOCUMENT
    assert _table_line(output, "chunks") == [chunks, chunks, 0, 0]
    assert _table_line(output, "sessions") == [SESSIONS, SESSIONS, 0, 0]
    messages = SESSIONS * MESSAGES_PER_SESSION
    assert _table_line(output, "messages") == [messages, messages, 0, 0]
    assert "same content" in output

    workspace = _workspace()
    with as_user(User.objects.get(email="owner@legacy.example").pk):
        member = OrganizationMember.objects.get(organization=workspace.organization)
    assert member.user.email == "owner@legacy.example"
    assert member.role == "owner"
    assert workspace.organization.plan_tier == "enterprise"
    with as_workspace(workspace.pk):
        agent = Agent.objects.get(workspace=workspace, slug="general")
        assert set(Document.objects.values_list("pk", flat=True)) == set(
            source["documents"]
        )
        first = Document.objects.get(pk=source["documents"][0])
        assert first.status == DocumentStatus.EMBEDDING
        assert first.chunk_count == CHUNKS_PER_DOCUMENT
        assert first.created_at == datetime(2025, 3, 1, tzinfo=UTC)
        assert first.metadata == {"team": "support", "imported": True}
        assert Chunk.objects.filter(embedding__isnull=True).count() == chunks
        assert ChatSession.objects.filter(agent=agent).count() == SESSIONS
        assert Message.objects.count() == messages
    # Every imported document was handed to the embedding stage once.
    assert sorted(args[1] for args in published) == sorted(
        str(pk) for pk in source["documents"]
    )


@pytest.mark.django_db
def test_running_it_again_changes_nothing(
    legacy: tuple[str, dict[str, Any]], published: list[tuple[str, ...]]
) -> None:
    url, _ = legacy
    _import(url)
    output = _import(url)

    assert _table_line(output, "documents") == [DOCUMENTS + 1, 0, DOCUMENTS, 1]
    assert _table_line(output, "chunks")[1:3] == [0, DOCUMENTS * CHUNKS_PER_DOCUMENT]
    assert _table_line(output, "messages")[1] == 0
    workspace = _workspace()
    with as_workspace(workspace.pk):
        assert Document.objects.count() == DOCUMENTS
        assert Chunk.objects.count() == DOCUMENTS * CHUNKS_PER_DOCUMENT
        assert Agent.objects.filter(workspace=workspace).count() == 1
    with as_user(User.objects.get(email="owner@legacy.example").pk):
        assert Organization.objects.filter(slug="default").count() == 1


@pytest.mark.django_db
def test_an_interrupted_import_resumes_without_duplicates(
    legacy: tuple[str, dict[str, Any]],
    published: list[tuple[str, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _ = legacy
    original = Importer._document_page
    calls = {"n": 0}

    def crash_on_second_page(self: Importer, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("source went away")
        original(self, *args)

    monkeypatch.setattr(Importer, "_document_page", crash_on_second_page)
    with pytest.raises(ConnectionError):
        _import(url)

    workspace = _workspace()
    with as_workspace(workspace.pk):
        # The first page landed whole; the second left nothing behind.
        assert Document.objects.count() == 5
        assert Chunk.objects.count() == 5 * CHUNKS_PER_DOCUMENT

    monkeypatch.setattr(Importer, "_document_page", original)
    output = _import(url)
    assert _table_line(output, "documents") == [DOCUMENTS + 1, DOCUMENTS - 5, 5, 1]
    with as_workspace(workspace.pk):
        assert Document.objects.count() == DOCUMENTS
        assert Chunk.objects.count() == DOCUMENTS * CHUNKS_PER_DOCUMENT
        pairs = list(Chunk.objects.values_list("document_id", "chunk_index"))
        assert len(pairs) == len(set(pairs))


@pytest.mark.django_db
def test_imported_documents_become_searchable_and_stay_in_their_workspace(
    legacy: tuple[str, dict[str, Any]],
    published: list[tuple[str, ...]],
    tenant_b: Tenant,
) -> None:
    url, source = legacy
    _import(url)
    workspace = _workspace()
    for document_id in source["documents"]:
        pipeline.document_embed_run(workspace_id=workspace.pk, document_id=document_id)

    with as_workspace(workspace.pk):
        assert set(Document.objects.values_list("status", flat=True)) == {
            DocumentStatus.READY
        }
        result = search(
            workspace, SearchRequest(query="how do I reset my password", limit=3)
        )
    assert result.hits
    assert "reset the password" in result.hits[0].content
    assert result.hits[0].document_id in source["documents"]

    other = tenant_b.workspace
    with as_workspace(other.pk):
        assert not Document.objects.filter(pk__in=source["documents"]).exists()
        assert search(other, SearchRequest(query="reset my password")).hits == []


@pytest.mark.django_db
def test_vectors_of_the_same_model_are_kept(
    legacy: tuple[str, dict[str, Any]], published: list[tuple[str, ...]]
) -> None:
    url, source = legacy
    model = get_provider().name
    _import(url, "--keep-embeddings-from", model)

    workspace = _workspace()
    with as_workspace(workspace.pk):
        chunk = Chunk.objects.filter(document_id=source["documents"][1]).first()
        assert chunk is not None
        assert chunk.embedding_model == model
        assert list(chunk.embedding) == source["vector"]
    pipeline.document_embed_run(
        workspace_id=workspace.pk, document_id=source["documents"][1]
    )
    with as_workspace(workspace.pk):
        chunk.refresh_from_db()
        # Already this model's vector: the pipeline did not recompute it.
        assert list(chunk.embedding) == source["vector"]


@pytest.mark.django_db
def test_a_source_without_the_tables_is_refused_and_nothing_is_created() -> None:
    suffix = os.environ.get("ATRIUM_TEST_DB_SUFFIX", "")
    name = f"atrium_legacy{suffix}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(SUPERUSER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _fill(_source_url(name), with_messages=False)
        with pytest.raises(CommandError, match="messages"):
            _import(_source_url(name))
    finally:
        with psycopg.connect(SUPERUSER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert not User.objects.filter(email="owner@legacy.example").exists()
