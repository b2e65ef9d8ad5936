"""Ingestion and search record usage events for their workspace."""

import pytest

from billing.models import UsageEvent
from billing.services import usage_events_flush
from tenancy.context import as_workspace
from tests.knowledge import corpus
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
    assert [(e.event_type, e.success) for e in events] == [("ingest", True)]
    assert events[0].input_tokens == result["tokens"] > 0
    assert foreign == 0


def test_a_failed_ingestion_is_metered_as_a_failure_with_its_code(
    tenant_a, django_capture_on_commit_callbacks
):
    locked = upload(
        tenant_a.workspace, "locked.pdf", corpus.pdf(["secret"], password="pw-9876")
    ).document
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(locked)
    usage_events_flush()

    with as_workspace(tenant_a.workspace.pk):
        (event,) = UsageEvent.objects.filter(workspace=tenant_a.workspace)
    assert result["code"] == "encrypted_file"
    assert (event.event_type, event.success, event.error_code) == (
        "ingest",
        False,
        "encrypted_file",
    )
    assert event.input_tokens == 0
    assert event.user_id == locked.created_by_id
