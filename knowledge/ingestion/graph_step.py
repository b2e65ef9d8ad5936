"""The graph stage and its seam to the knowledge-graph module.

Ingestion does not build graphs itself. If a module ``knowledge.graph``
exists and defines the hooks below, the graph stage calls them; otherwise it
records ``GRAPH_SKIPPED`` and the document is ready without a graph.

- ``extract_document(*, workspace_id, document_id) -> dict | None``: called
  after the chunks are embedded, outside any transaction (it opens its own
  ``as_workspace`` blocks). The dict it returns is stored in
  ``Document.stages["graph"]``; raising fails the graph stage, which
  ``document_retry`` reruns without parsing or embedding again. An
  ``IngestionError`` it raises keeps its code (``graph_budget_exceeded``).
- ``delete_document(*, workspace_id, document_id) -> None`` (optional):
  called after a document's deletion commits, to drop its episodes.
- ``graph_enabled() -> bool`` (optional): whether a graph is configured;
  without it, a module with ``extract_document`` counts as configured. When
  none is, the embedding stage records the graph stage skipped itself and
  no graph task is queued.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from knowledge.ingestion.errors import IngestionError

logger = logging.getLogger(__name__)

GRAPH_SKIPPED = {"state": "skipped", "reason": "no graph backend configured"}
GraphHook = Callable[..., dict[str, Any] | None]


def graph_hook(name: str) -> GraphHook | None:
    """Return ``knowledge.graph.<name>`` if the graph module provides it."""
    try:
        module = importlib.import_module("knowledge.graph")
    except ModuleNotFoundError as error:
        if error.name != "knowledge.graph":
            raise
        return None
    hook = getattr(module, name, None)
    return hook if callable(hook) else None


def graph_enabled() -> bool:
    """Whether documents go through the graph task after embedding."""
    try:
        enabled = graph_hook("graph_enabled")
        if enabled is not None:
            return bool(enabled())
        return graph_hook("extract_document") is not None
    except ImportError:
        # A graph module that cannot load fails the graph stage (below),
        # retryable once it is fixed: let the graph task report it.
        return True


def graph_step(
    *, workspace_id: uuid.UUID, document_id: uuid.UUID
) -> dict[str, Any] | IngestionError:
    """Run the graph stage: extract through the seam, or record it skipped."""
    try:
        extract = graph_hook("extract_document")
    except ImportError as error:
        # The graph module exists but cannot load (a missing dependency):
        # fail the stage, retryable once it is fixed, instead of the task.
        logger.exception("the knowledge.graph module cannot be imported")
        return IngestionError(
            "graph_failed", f"The graph module cannot be loaded ({error.name})."
        )
    if extract is None:
        return dict(GRAPH_SKIPPED)
    try:
        summary = extract(workspace_id=workspace_id, document_id=document_id)
    # A refusal the graph module states itself (its budget) keeps its code.
    except IngestionError as error:
        logger.warning(
            "graph stage of document %s refused: %s", document_id, error.code
        )
        return error
    # The hook is another module's code calling outside services: whatever
    # it raises, the document must end failed and retryable, not stuck.
    except Exception as error:
        logger.exception("graph extraction of document %s failed", document_id)
        return IngestionError(
            "graph_failed", f"Graph extraction failed ({type(error).__name__})."
        )
    return {"state": "done", **(summary or {})}
