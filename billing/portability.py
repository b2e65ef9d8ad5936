"""Billing's part of erasure: usage events still waiting in the Redis buffer.

Usage rows carry ``workspace_id`` and go with tenancy's row purge; events
recorded but not yet flushed sit in a Redis list that names no workspace,
so they are picked out here. Registered in ``BillingConfig.ready``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from billing.services import _buffer_key
from tenancy import ratelimit
from tenancy.portability import Eraser, register_eraser


def _buffer_erase(workspace_id: uuid.UUID, _prepared: Any) -> dict[str, Any]:
    client = ratelimit.client()
    key = _buffer_key()
    removed = 0
    for raw in client.lrange(key, 0, -1):
        try:
            owner = json.loads(raw).get("workspace_id")
        except (ValueError, AttributeError):
            continue
        if owner == str(workspace_id):
            # redis-py takes back the bytes LRANGE gave; its stubs say str only.
            removed += int(client.lrem(key, 0, raw))  # type: ignore[arg-type]
    return {"removed": removed}


def register() -> None:
    register_eraser(Eraser(name="usage_buffer", erase=_buffer_erase))
