"""Ingestion and search record usage events for their workspace."""

import pytest

from billing.models import UsageEvent
from billing.services import usage_events_flush
from tenancy.context import as_workspace
from tests.knowledge.conftest import ingest, upload

pytestmark = pytest.mark.django_db


def test_embedding_a_document_records_its_tokens(
    tenant_a, tenant_b, django_capture_on_commit_callbacks
):
    document = upload(
        tenant_a.workspace, "a.md", b"# A\n\nSome text to embed."
    ).document
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(document)
    usage_events_flush()

    with as_workspace(tenant_a.workspace.pk):
        events = list(UsageEvent.objects.filter(workspace=tenant_a.workspace))
    with as_workspace(tenant_b.workspace.pk):
        foreign = UsageEvent.objects.count()
    assert [e.event_type for e in events] == ["ingest"]
    assert events[0].input_tokens == result["tokens"] > 0
    assert foreign == 0
