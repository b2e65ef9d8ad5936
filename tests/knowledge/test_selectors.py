"""Document reads name their workspace and never return another's rows."""

import pytest

from knowledge import selectors
from knowledge.models import Document
from tenancy.context import as_workspace
from tests.knowledge import corpus
from tests.knowledge.conftest import ingest, upload

pytestmark = pytest.mark.django_db


def test_list_filters_by_status_newest_first(tenant_a):
    older = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document
    ingest(older)
    newer = upload(tenant_a.workspace, "b.txt", b"waiting words").document

    with as_workspace(tenant_a.workspace.pk):
        everything = list(selectors.document_list(workspace_id=tenant_a.workspace.pk))
        ready = list(
            selectors.document_list(workspace_id=tenant_a.workspace.pk, status="ready")
        )

    assert everything == [newer, older]
    assert ready == [older]


def test_get_and_chunks_of_a_document(tenant_a):
    document = upload(tenant_a.workspace, "a.md", corpus.MARKDOWN).document
    ingest(document)
    ids = {"workspace_id": tenant_a.workspace.pk, "document_id": document.pk}

    with as_workspace(tenant_a.workspace.pk):
        found = selectors.document_get(**ids)
        chunks = list(selectors.document_chunk_list(**ids))

    assert found == document
    assert [c.chunk_index for c in chunks] == list(range(found.chunk_count))
    assert "embedding" in chunks[0].get_deferred_fields()


def test_foreign_documents_are_not_found(tenant_a, tenant_b):
    foreign = upload(tenant_b.workspace, "b.md", corpus.MARKDOWN).document
    ingest(foreign)

    with as_workspace(tenant_a.workspace.pk):
        # Asking with A's workspace, and even naming B's workspace from A's
        # context: nothing comes back.
        with pytest.raises(Document.DoesNotExist):
            selectors.document_get(
                workspace_id=tenant_a.workspace.pk, document_id=foreign.pk
            )
        with pytest.raises(Document.DoesNotExist):
            selectors.document_get(
                workspace_id=tenant_b.workspace.pk, document_id=foreign.pk
            )
        listed = list(selectors.document_list(workspace_id=tenant_b.workspace.pk))
        chunks = list(
            selectors.document_chunk_list(
                workspace_id=tenant_b.workspace.pk, document_id=foreign.pk
            )
        )

    assert listed == [] and chunks == []
