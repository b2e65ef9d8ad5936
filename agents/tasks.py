"""Agents' background work: scoring evaluation runs."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="agents.tasks.eval_run_execute")
def eval_run_execute(workspace_id: str, run_id: str) -> dict[str, Any]:
    """Score one queued evaluation run (idempotent: a finished run is left)."""
    # Imported here: agents.evaluation imports this module to dispatch.
    from agents.evaluation import eval_run_execute as execute

    run = execute(workspace_id=workspace_id, run_id=run_id)
    if run is None:
        return {"run_id": run_id, "state": "finished already"}
    return {"run_id": run_id, "state": run.status}
