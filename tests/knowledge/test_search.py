"""Search by every type on a small known corpus, with cross-tenant canaries."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import override_settings

from knowledge.models import Document
from knowledge.search import SearchFilters, SearchRequest, search
from tenancy.context import as_workspace
from tests.knowledge.conftest import ingest, upload
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db

CORPUS = {
    "password-reset.md": (
        "# Resetting your password\n\nIf you forgot your password, open the "
        "sign-in page and choose Forgot password. We email a reset link that "
        "works once and expires after 30 minutes."
    ),
    "refunds.md": (
        "# Refunds\n\nAnnual plans are refunded within 14 days of purchase. "
        "Monthly plans are not refunded, but you may cancel at any time."
    ),
    "rate-limits.md": (
        "# API rate limits\n\nWhen a limit is reached the API answers 429 Too "
        "Many Requests with a Retry-After header; clients should back off."
    ),
    "onboarding.md": (
        "# First week\n\nCollect your laptop from the IT desk and sign the "
        "equipment form. Payroll runs on the 25th of each month."
    ),
}


def stock(label: str, canary: str):  # type: ignore[no-untyped-def]
    tenant = make_tenant(label)
    documents = {}
    for name, text in {**CORPUS, "canary.md": f"# Secret\n\n{canary}"}.items():
        document = upload(tenant.workspace, name, text.encode()).document
        ingest(document)
        documents[name] = document
    return tenant, documents


@pytest.fixture(scope="module")
def corpus(django_db_setup, django_db_blocker, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Two stocked workspaces, committed once for the module (embedding is slow)."""
    media = override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media"))
    with django_db_blocker.unblock(), media:
        a, docs_a = stock("a", "The launch code for Project Falcon is amber-7391.")
        b, docs_b = stock("b", "The vault combination for Project Heron is teal-5512.")
    yield a, docs_a, b, docs_b
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def run(tenant, query: str, search_type: str, **kwargs):  # type: ignore[no-untyped-def]
    with as_workspace(tenant.workspace.pk):
        request = SearchRequest(query=query, search_type=search_type, **kwargs)
        return search(tenant.workspace, request).hits


@pytest.mark.parametrize(
    ("search_type", "query", "expected"),
    [
        ("vector", "I can't remember my login secret, how do I get a new one?",
         "password-reset.md"),
        ("text", "refund annual plan", "refunds.md"),
        ("hybrid", "what does a 429 Too Many Requests mean", "rate-limits.md"),
        ("hybrid", "when do we get paid", "onboarding.md"),
    ],
)  # fmt: skip
def test_the_expected_document_comes_first(corpus, search_type, query, expected):
    tenant, documents, _b, _docs_b = corpus
    hits = run(tenant, query, search_type)
    assert hits and hits[0].document_id == documents[expected].pk
    assert hits[0].document_title
    assert search_type in hits[0].scores or "rrf" in hits[0].scores


def test_hybrid_hits_show_their_parts(corpus):
    tenant, documents, _b, _docs_b = corpus
    top = run(tenant, "refund annual plan", "hybrid")[0]
    assert top.document_id == documents["refunds.md"].pk
    assert {"vector", "text", "rrf"} <= set(top.scores)
    assert top.ranks["text"] == 1


def test_the_weighted_blend_is_available(corpus):
    tenant, documents, _b, _docs_b = corpus
    hits = run(tenant, "refund annual plan", "hybrid", fusion="weighted")
    assert hits[0].document_id == documents["refunds.md"].pk
    assert "weighted" in hits[0].scores


def test_filters_restrict_to_documents_and_metadata(corpus):
    tenant, documents, _b, _docs_b = corpus
    only = documents["onboarding.md"].pk
    hits = run(
        tenant,
        "password",
        "hybrid",
        filters=SearchFilters(document_ids=(only,)),
    )
    assert {h.document_id for h in hits} == {only}
    tagged = run(
        tenant, "password", "vector", filters=SearchFilters(metadata={"format": "md"})
    )
    assert tagged == []


@pytest.mark.parametrize("search_type", ["vector", "text"])
def test_document_metadata_filters_chunks_of_that_document(corpus, search_type):
    tenant, documents, _b, _docs_b = corpus
    tagged = documents["refunds.md"]
    with as_workspace(tenant.workspace.pk):
        Document.objects.filter(pk=tagged.pk).update(metadata={"team": "billing"})
    try:
        hits = run(
            tenant,
            "refund annual plan",
            search_type,
            filters=SearchFilters(metadata={"team": "billing"}),
        )
    finally:
        with as_workspace(tenant.workspace.pk):
            Document.objects.filter(pk=tagged.pk).update(metadata={})
    assert hits and {h.document_id for h in hits} == {tagged.pk}


@pytest.mark.parametrize("search_type", ["vector", "text", "hybrid"])
def test_every_hit_carries_its_own_document_title(corpus, search_type):
    tenant, _documents, _b, _docs_b = corpus
    with as_workspace(tenant.workspace.pk):
        titles = dict(Document.objects.values_list("pk", "title"))
    hits = run(tenant, "password or refund or limits", search_type, limit=50)
    assert len({h.document_id for h in hits}) > 1
    assert all(h.document_title == titles[h.document_id] for h in hits)


@pytest.mark.parametrize("search_type", ["vector", "text", "hybrid"])
def test_a_canary_never_crosses_workspaces(corpus, search_type):
    a, docs_a, b, docs_b = corpus
    cases = [
        (a, docs_a, "teal-5512 vault combination Heron", "teal-5512"),
        (b, docs_b, "amber-7391 launch code Falcon", "amber-7391"),
    ]
    for tenant, own_documents, foreign_query, foreign_secret in cases:
        hits = run(tenant, foreign_query, search_type, limit=50)
        own = {document.pk for document in own_documents.values()}
        assert {hit.document_id for hit in hits} <= own
        assert foreign_secret not in " ".join(hit.content for hit in hits)
