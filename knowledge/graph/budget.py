"""The per-workspace extraction budget: episodes per period.

Each chunk sent to extraction is one episode. Before a document is
extracted its episodes are reserved against the workspace's budget in Redis
(an atomic increment on a key per workspace and period); a document that
would pass the budget is refused whole with ``graph_budget_exceeded``, and
the stage can be retried in a later period. Reservations are not returned
when extraction fails, so a document that keeps failing also stops.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache

from knowledge.ingestion.errors import IngestionError


def budget_limit(workspace_settings: dict[str, Any]) -> int:
    """Episodes allowed per period: the workspace's own, else the default.

    ``Workspace.settings["graph_budget_episodes"]`` overrides
    ``ATRIUM_GRAPH_BUDGET_EPISODES``; 0 turns the budget off.
    """
    own = workspace_settings.get("graph_budget_episodes")
    if isinstance(own, int) and not isinstance(own, bool) and own >= 0:
        return own
    return int(settings.ATRIUM_GRAPH_BUDGET_EPISODES)


def _key(workspace_id: uuid.UUID, period: int) -> str:
    return f"atrium:graph-budget:{workspace_id}:{int(time.time() // period)}"


def budget_reserve(
    *, workspace_id: uuid.UUID, episodes: int, workspace_settings: dict[str, Any]
) -> int:
    """Reserve ``episodes`` of the workspace's budget; return the period's total.

    Raises ``IngestionError("graph_budget_exceeded")`` and reserves nothing
    when the budget cannot hold them.
    """
    limit = budget_limit(workspace_settings)
    if limit == 0 or episodes <= 0:
        return 0
    period = int(settings.ATRIUM_GRAPH_BUDGET_PERIOD)
    key = _key(workspace_id, period)
    cache.add(key, 0, timeout=period + 60)
    used = int(cache.incr(key, episodes))
    if used > limit:
        cache.decr(key, episodes)
        raise IngestionError(
            "graph_budget_exceeded",
            f"Graph extraction needs {episodes} episodes but the workspace's budget"
            f" of {limit} per {period} s has {max(limit - used + episodes, 0)} left;"
            " retry the document in the next period or raise the budget.",
        )
    return used


def budget_used(*, workspace_id: uuid.UUID) -> int:
    """Episodes reserved in the current period."""
    period = int(settings.ATRIUM_GRAPH_BUDGET_PERIOD)
    return int(cache.get(_key(workspace_id, period)) or 0)
