"""Writes of workspace knowledge."""

from __future__ import annotations

import uuid

from django.db import transaction

from knowledge.models import Document
from tenancy.models import Workspace


@transaction.atomic
def workspace_document_count_refresh(*, workspace_id: uuid.UUID | str) -> int:
    """Set the workspace's ``document_count`` from its documents; return it."""
    count = Document.objects.filter(workspace_id=workspace_id).count()
    Workspace.objects.filter(id=workspace_id).update(document_count=count)
    return count
