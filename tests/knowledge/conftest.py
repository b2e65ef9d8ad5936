"""Fixtures for the knowledge tests: a private media root, synchronous ingestion."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction

from knowledge import services
from knowledge.ingestion import pipeline
from knowledge.models import Document, DocumentStatus
from tenancy.context import as_workspace
from tenancy.models import Workspace


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def published(request, monkeypatch):  # type: ignore[no-untyped-def]
    """Record task publishes instead of sending them, except for worker tests.

    Callbacks run on commit would otherwise leave messages in the test
    broker's queues for no worker to take.
    """
    sent: list[tuple[str, tuple[Any, ...]]] = []
    if request.node.get_closest_marker("worker"):
        return sent
    from knowledge import tasks

    for task in (tasks.ingest_document, tasks.embed_document, tasks.graph_document):
        monkeypatch.setattr(
            task, "delay", lambda *args, _name=task.name: sent.append((_name, args))
        )
    return sent


@contextmanager
def acting_in(workspace_id: Any) -> Iterator[None]:
    """``as_workspace`` inside a savepoint.

    A refused call then rolls back only its own work and leaves the test's
    transaction usable for the assertions that follow.
    """
    with transaction.atomic(), as_workspace(workspace_id):
        yield


def upload(workspace: Workspace, filename: str, data: bytes, **kwargs: Any):
    """Create a document from a file, as system work in ``workspace``."""
    with acting_in(workspace.pk):
        return services.document_create(
            workspace=workspace, file=io.BytesIO(data), filename=filename, **kwargs
        )


def ingest(document: Document) -> dict[str, Any]:
    """Run the whole pipeline in this process, as the worker would."""
    ids: dict[str, Any] = {
        "workspace_id": document.workspace_id,
        "document_id": document.id,
    }
    first = pipeline.document_ingest_run(**ids)
    if first.get("state") != "chunked":
        return first
    embedded = pipeline.document_embed_run(**ids)
    if embedded.get("state") != DocumentStatus.GRAPH:
        return embedded
    return {**embedded, **pipeline.document_graph_run(**ids)}


def reload(document: Document) -> Document:
    with as_workspace(document.workspace_id):
        return Document.objects.get(workspace_id=document.workspace_id, id=document.id)
