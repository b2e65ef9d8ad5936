"""Offline extraction through the pipeline, search, time, and the lifecycle."""

from datetime import UTC, datetime

import pytest

from knowledge import services
from knowledge.graph import (
    entity_relationships,
    entity_timeline,
    extract_document,
    graph_search,
)
from knowledge.graph.names import STOPWORDS
from knowledge.models import Chunk, DocumentStatus
from tenancy.context import as_workspace
from tests.knowledge.conftest import acting_in, ingest, reload
from tests.knowledge.graph.conftest import (
    entity_names,
    episodes_of,
    graph_rows,
    in_context,
    ingest_text,
)

pytestmark = pytest.mark.django_db

HISTORY = """# Acme history

In 2019, Acme Corp acquired Beta Labs. The deal closed in Lisbon.

## Leadership

Bob Stone led Acme Corp until 2021. Maria Silva leads Acme Corp since 2021.
"""


def test_offline_extraction_writes_entities_and_facts(tenant_a, graph_on):
    document = ingest_text(tenant_a.workspace, "history.md", HISTORY)

    stage = document.stages["graph"]
    assert document.status == DocumentStatus.READY
    assert stage["state"] == "done"
    assert stage["extractor"] == "local"
    assert stage["backend"] == "falkordb"
    assert stage["facts"] == 3
    assert {"Acme Corp", "Beta Labs", "Bob Stone", "Maria Silva"} <= entity_names(
        tenant_a.workspace
    )
    facts = graph_rows(
        tenant_a.workspace,
        "MATCH (a:Entity)-[r:RELATES_TO]->(b:Entity) WHERE r.group_id = $group_id"
        " RETURN a.name AS a, r.name AS rel, b.name AS b",
    )
    assert {"a": "Acme Corp", "rel": "ACQUIRED", "b": "Beta Labs"} in facts
    assert {"a": "Bob Stone", "rel": "LED", "b": "Acme Corp"} in facts
    # Each entity is one node, however many facts name it.
    assert sorted(entity_names(tenant_a.workspace)) == sorted(
        set(entity_names(tenant_a.workspace))
    )
    assert len(episodes_of(tenant_a.workspace, document)) == stage["episodes"]


def test_search_finds_a_planted_fact_and_cites_its_chunk(tenant_a, graph_on):
    document = ingest_text(tenant_a.workspace, "history.md", HISTORY)

    with in_context(tenant_a.workspace):
        hits = graph_search(tenant_a.workspace, "Who acquired Beta Labs?", limit=5)
        chunk = Chunk.objects.get(
            workspace_id=tenant_a.workspace.pk, id=hits[0].chunk_id
        )

    top = hits[0]
    assert top.fact == "In 2019, Acme Corp acquired Beta Labs."
    assert (top.source_entity, top.relation, top.target_entity) == (
        "Acme Corp",
        "ACQUIRED",
        "Beta Labs",
    )
    assert top.document_id == document.id
    assert chunk.document_id == document.id
    assert "Acme Corp acquired Beta Labs" in chunk.content
    assert top.valid_at == datetime(2019, 1, 1, tzinfo=UTC)
    assert top.invalid_at is None
    assert top.episode_id
    assert 0 < top.score <= 1
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_as_of_returns_the_facts_that_held_then(tenant_a, graph_on):
    ingest_text(tenant_a.workspace, "history.md", HISTORY)
    query = "Who leads Acme Corp?"

    with in_context(tenant_a.workspace):
        in_2020 = graph_search(tenant_a.workspace, query, as_of=datetime(2020, 6, 1))
        in_2022 = graph_search(
            tenant_a.workspace, query, as_of=datetime(2022, 6, 1, tzinfo=UTC)
        )
        every = graph_search(tenant_a.workspace, query)

    def leaders(hits):
        return {h.source_entity for h in hits if h.target_entity == "Acme Corp"}

    assert leaders(every) == {"Bob Stone", "Maria Silva"}
    assert leaders(in_2020) == {"Bob Stone"}
    assert leaders(in_2022) == {"Maria Silva"}
    # 2019's acquisition still held in 2020 and 2022 (no end date).
    assert any(h.relation == "ACQUIRED" for h in in_2022)
    assert all(h.holds_at(datetime(2022, 6, 1, tzinfo=UTC)) for h in in_2022)


def test_relationships_and_timeline_of_an_entity(tenant_a, graph_on):
    document = ingest_text(tenant_a.workspace, "history.md", HISTORY)

    with in_context(tenant_a.workspace):
        related = entity_relationships(tenant_a.workspace, "acme corp")
        timeline = entity_timeline(tenant_a.workspace, "Acme Corp")

    assert related.entity == "Acme Corp"
    assert {(f.source_entity, f.relation, f.target_entity) for f in related.facts} == {
        ("Acme Corp", "ACQUIRED", "Beta Labs"),
        ("Bob Stone", "LED", "Acme Corp"),
        ("Maria Silva", "LEADS", "Acme Corp"),
    }
    assert all(f.document_id == document.id and f.chunk_id for f in related.facts)
    # Unknown start first, then by the time each fact began to hold.
    assert [f.source_entity for f in timeline.facts] == [
        "Bob Stone",
        "Acme Corp",
        "Maria Silva",
    ]
    assert timeline.facts[0].invalid_at == datetime(2021, 1, 1, tzinfo=UTC)


def test_deleting_a_document_removes_its_facts_and_keeps_shared_ones(
    tenant_a, graph_on, django_capture_on_commit_callbacks
):
    shared = "Acme Corp acquired Beta Labs."
    first = ingest_text(
        tenant_a.workspace, "one.md", f"{shared} Zora Quill founded Omega Works."
    )
    second = ingest_text(
        tenant_a.workspace, "two.md", f"{shared} Ivo Lark joined Acme Corp."
    )

    with django_capture_on_commit_callbacks(execute=True):
        with acting_in(tenant_a.workspace.pk):
            services.document_delete(document=first)

    names = entity_names(tenant_a.workspace)
    assert "Zora Quill" not in names and "Omega Works" not in names
    assert {"Acme Corp", "Beta Labs", "Ivo Lark"} <= names
    assert episodes_of(tenant_a.workspace, first) == []
    with in_context(tenant_a.workspace):
        gone = graph_search(tenant_a.workspace, "Who founded Omega Works?")
        kept = graph_search(tenant_a.workspace, "Who acquired Beta Labs?")
    assert all("Omega" not in h.fact for h in gone)
    assert kept[0].fact == shared
    assert kept[0].document_id == second.id


def test_reingesting_replaces_the_facts(tenant_a, graph_on):
    document = ingest_text(
        tenant_a.workspace, "deal.md", "Acme Corp acquired Beta Labs."
    )
    with acting_in(tenant_a.workspace.pk):
        services.document_reingest(
            document=document, text="Acme Corp acquired Gamma Soft."
        )
    ingest(document)

    assert reload(document).status == DocumentStatus.READY
    names = entity_names(tenant_a.workspace)
    assert "Gamma Soft" in names and "Beta Labs" not in names
    assert len(episodes_of(tenant_a.workspace, document)) == 1


def test_rerunning_extraction_does_not_duplicate(tenant_a, graph_on):
    document = ingest_text(tenant_a.workspace, "history.md", HISTORY)
    before = graph_rows(
        tenant_a.workspace,
        "MATCH ()-[r:RELATES_TO]->() WHERE r.group_id = $group_id RETURN r.fact AS f",
    )

    again = extract_document(
        workspace_id=tenant_a.workspace.pk, document_id=document.id
    )

    after = graph_rows(
        tenant_a.workspace,
        "MATCH ()-[r:RELATES_TO]->() WHERE r.group_id = $group_id RETURN r.fact AS f",
    )
    assert again["facts"] == len(before) == len(after) == 3
    assert len(episodes_of(tenant_a.workspace, document)) == again["episodes"]


def test_stopword_names_are_dropped_and_the_server_survives(
    tenant_a, graph_on, falkordb_server
):
    text = (
        "The If NOT A. If The Acme Corp hired The Beta Labs team. NOT The Same."
        " A Zeta Fund owns The If. The Then."
    )
    ingest_text(tenant_a.workspace, "noise.md", text)

    names = entity_names(tenant_a.workspace)
    assert {"Acme Corp", "Beta Labs"} <= names
    assert not {n for n in names if n.lower() in STOPWORDS}
    with in_context(tenant_a.workspace):
        for word in ("The", "a", "If", "NOT"):
            assert entity_relationships(tenant_a.workspace, word).facts == []
            assert entity_timeline(tenant_a.workspace, word).facts == []
        assert graph_search(tenant_a.workspace, "The If NOT a") is not None
    import redis

    server = redis.Redis(host=falkordb_server.host, port=falkordb_server.port)
    assert server.info("server")["process_id"] == falkordb_server.pid


def test_the_budget_stops_extraction_with_a_clear_error(tenant_a, graph_on, settings):
    settings.ATRIUM_GRAPH_BUDGET_EPISODES = 2
    ingest_text(tenant_a.workspace, "one.md", "Acme Corp acquired Beta Labs.")
    ingest_text(tenant_a.workspace, "two.md", "Gamma Soft hired Dana Wu.")

    refused = ingest_text(
        tenant_a.workspace, "three.md", "Zeta Systems sued Omega Works."
    )

    assert refused.status == DocumentStatus.FAILED
    assert refused.stages["graph"]["code"] == "graph_budget_exceeded"
    assert refused.error.startswith("graph_budget_exceeded: Graph extraction needs 1")
    assert "budget of 2 per 86400 s has 0 left" in refused.error
    assert episodes_of(tenant_a.workspace, refused) == []
    assert "Zeta Systems" not in entity_names(tenant_a.workspace)
    assert refused.stages["embedding"]["state"] == "done"  # still vector-searchable


def test_a_workspace_budget_overrides_the_default(tenant_a, graph_on, settings):
    settings.ATRIUM_GRAPH_BUDGET_EPISODES = 1
    with as_workspace(tenant_a.workspace.pk):
        tenant_a.workspace.settings = {"graph_budget_episodes": 0}  # off
        tenant_a.workspace.save(update_fields=["settings"])

    for n in range(3):
        document = ingest_text(
            tenant_a.workspace, f"{n}.md", f"Firm{n} Corp hired Ana{n} Lee."
        )
        assert document.status == DocumentStatus.READY


def test_with_the_graph_off_the_stage_is_skipped(tenant_a, settings):
    settings.ATRIUM_GRAPH_BACKEND = "off"

    document = ingest_text(tenant_a.workspace, "history.md", HISTORY)

    assert document.status == DocumentStatus.READY
    assert document.stages["graph"]["state"] == "skipped"
    with in_context(tenant_a.workspace):
        assert graph_search(tenant_a.workspace, "Acme") == []
