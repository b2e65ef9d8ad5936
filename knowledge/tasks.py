"""Background work on workspace knowledge."""

from __future__ import annotations

import logging

from celery import shared_task

from knowledge import services
from tenancy.context import as_workspace
from tenancy.selectors import workspace_ids_for_system
from tenancy.tasks import workspace_task

logger = logging.getLogger(__name__)


@workspace_task()
def workspace_document_count_refresh(workspace_id: str) -> int:
    """Recount one workspace's documents into its usage counter."""
    return services.workspace_document_count_refresh(workspace_id=workspace_id)


@shared_task
def document_counts_refresh_all() -> int:
    """Recount documents of every workspace, each inside its own context."""
    refreshed = 0
    for workspace_id in workspace_ids_for_system():
        with as_workspace(workspace_id):
            services.workspace_document_count_refresh(workspace_id=workspace_id)
        refreshed += 1
    logger.info("refreshed document counts of %s workspaces", refreshed)
    return refreshed
