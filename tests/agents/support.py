"""Stocked workspaces and agents for the tools, loop and chat tests."""

from __future__ import annotations

from typing import Any

from agents.models import Agent
from knowledge.models import Chunk, Document
from tenancy.context import as_workspace
from tenancy.models import Workspace
from tests.knowledge.conftest import ingest, upload

CORPUS = {
    "password-reset.md": (
        "# Resetting your password\n\nIf you forgot your password, open the "
        "sign-in page and choose Forgot password. We email a reset link that "
        "works once and expires after 30 minutes."
    ),
    "refunds.md": (
        "# Refunds\n\nAnnual plans are refunded within 14 days of purchase. "
        "Monthly plans are not refunded, but you may cancel at any time."
    ),
    "rate-limits.md": (
        "# API rate limits\n\nWhen a limit is reached the API answers 429 Too "
        "Many Requests with a Retry-After header; clients should back off."
    ),
}


def stock(
    workspace: Workspace, documents: dict[str, str] | None = None
) -> dict[str, Document]:
    """Upload and ingest documents (the whole pipeline, in this process)."""
    stocked = {}
    for name, text in (documents if documents is not None else CORPUS).items():
        document = upload(workspace, name, text.encode()).document
        result = ingest(document)
        assert result.get("state") != "failed", result
        stocked[name] = document
    return stocked


def make_agent(workspace: Workspace, slug: str, **fields: Any) -> Agent:
    values: dict[str, Any] = {
        "name": slug.title(),
        "system_prompt": "You answer questions from the workspace's documents.",
        "enabled_tools": ["hybrid_search", "vector_search"],
    }
    values.update(fields)
    with as_workspace(workspace.pk):
        return Agent.objects.create(workspace=workspace, slug=slug, **values)


def chunk_of(citation: dict[str, Any]) -> Chunk:
    """The chunk a citation names, read in the chunk's own workspace."""
    chunk = Chunk.objects.select_related("document")
    return chunk.get(pk=citation["chunk_id"])
