"""A workspace past the threshold gets its own HNSW index, as the owner role."""

from __future__ import annotations

import pytest
from django.db import connection

from knowledge.search.core import vector_plan
from knowledge.search.indexes import index_name, vector_indexes_sync
from tenancy.context import as_workspace
from tests.knowledge.test_search import run, stock

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_large_workspace_gets_its_own_index_and_keeps_its_results():
    tenant, _documents = stock("big", "Nothing secret here.")
    before = run(tenant, "forgot password reset link", "vector")

    changes = {c.workspace_id: c for c in vector_indexes_sync(threshold=3)}
    after = run(tenant, "forgot password reset link", "vector")

    assert changes[tenant.workspace.pk].action == "created"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            [index_name(tenant.workspace.pk)],
        )
        [(definition,)] = cursor.fetchall()
    assert "hnsw" in definition and str(tenant.workspace.pk) in definition
    assert [h.chunk_id for h in after] == [h.chunk_id for h in before]

    again = {c.workspace_id: c for c in vector_indexes_sync(threshold=3)}
    dropped = {c.workspace_id: c for c in vector_indexes_sync(threshold=10_000)}
    assert again[tenant.workspace.pk].action == "kept"
    assert dropped[tenant.workspace.pk].action == "dropped"


def test_the_plan_uses_the_workspace_index_under_rls():
    tenant, _documents = stock("planned", "Nothing secret here.")
    vector_indexes_sync(threshold=3)
    embedding = [0.01] * 384
    with as_workspace(tenant.workspace.pk):
        plan = vector_plan(tenant.workspace, embedding)
    assert f"Index Scan using {index_name(tenant.workspace.pk)}" in plan
    assert "Sort" not in plan


@pytest.mark.parametrize("threshold", [3, 10_000], ids=["indexed", "exact"])
def test_titles_are_read_by_key_for_the_returned_hits_only(threshold):
    # No join: each hit's document is read by its primary key after the
    # limit, so row-level security cannot turn it into a scan of documents.
    tenant, _documents = stock("titles", "Nothing secret here.")
    vector_indexes_sync(threshold=threshold)
    with as_workspace(tenant.workspace.pk):
        plan = vector_plan(tenant.workspace, [0.01] * 384, limit=2)
    assert "Join" not in plan and "Nested Loop" not in plan
    assert "Index Scan using documents_pkey on documents d" in plan
    assert "Seq Scan on documents" not in plan


def test_a_small_workspace_is_searched_exactly():
    tenant, _documents = stock("small", "Nothing secret here.")
    vector_indexes_sync(threshold=10_000)
    with as_workspace(tenant.workspace.pk):
        plan = vector_plan(tenant.workspace, [0.01] * 384)
    assert "hnsw" not in plan and "Sort" in plan
