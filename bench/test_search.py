"""Filtered vector search across many workspaces: recall and latency.

A generated corpus of at least 300,000 chunks x 384 dimensions in 500
workspaces (sizes Zipf-like: largest 60,000, median about 140), vectors from
a Gaussian mixture of shared topics plus a per-workspace offset, so nearest
neighbours mean something. Atrium's own query (``vector_hits``) runs inside
each workspace's tenant context, as the product does, after
``atrium_vector_indexes`` gave the large workspaces their HNSW indexes.

Measured side by side in one run:

- recall@10 against exact top-10 (numpy, same vectors) for the largest
  workspace, the workspace holding the median chunk, tiny workspaces, and
  tiny workspaces asked off-topic questions; queries returning fewer than
  min(10, N) rows are counted;
- p50/p95 latency of each class, of exact search (the B-tree path forced)
  on the same workspaces, and of unfiltered HNSW over a one-workspace table
  of the largest workspace's size;
- row-level security: the largest and a tiny workspace's query with RLS (the
  runtime role in context) against the same query without it (a role that
  bypasses RLS), with both plans compared.

Targets (DESIGN.md §4): recall >= 0.99 in every class, no short results;
large p95 <= 1.5x unfiltered HNSW; small p95 <= 2x exact; RLS p95 <= 1.2x.
"""

from __future__ import annotations

import re
import time
import uuid

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from pgvector.psycopg import register_vector

from bench.report import publish, summary
from knowledge.search import SearchFilters
from knowledge.search.core import vector_hits, vector_settings, vector_statement
from knowledge.search.indexes import vector_indexes_sync
from tenancy import services
from tenancy.context import as_user, as_workspace
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db(transaction=True)

DIMS = 384
WORKSPACES = 500
LARGEST = 60_000
TOTAL_MIN = 300_000
TOPICS = 4000
QUERIES = {"large": 100, "median": 100, "tiny": 100, "tiny_off": 100}
RNG = np.random.default_rng(20261203)
# The same ef_search as the product, so the baselines compare like with like.
EF_SEARCH = settings.ATRIUM_HNSW_EF_SEARCH


def sizes() -> list[int]:
    ranks = np.arange(1, WORKSPACES + 1)
    raw = LARGEST / ranks**1.1 * RNG.uniform(0.8, 1.2, WORKSPACES)
    raw[0] = LARGEST
    counts = np.maximum(raw.astype(int), 25)
    scale = TOTAL_MIN / counts.sum()
    if scale > 1:
        counts[1:] = np.maximum((counts[1:] * scale).astype(int), 25)
    counts[0] = LARGEST
    return sorted(counts.tolist(), reverse=True)


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


class Corpus:
    def __init__(self) -> None:
        self.topics = unit(RNG.normal(size=(TOPICS, DIMS)).astype(np.float32))
        popularity = 1 / np.arange(1, TOPICS + 1) ** 1.05
        self.popularity = popularity / popularity.sum()

    def workspace_mix(self) -> tuple[np.ndarray, np.ndarray]:
        own = RNG.choice(TOPICS, size=12, replace=False, p=self.popularity)
        style = RNG.normal(scale=0.15, size=DIMS).astype(np.float32)
        return own, style

    def draw(self, own: np.ndarray, style: np.ndarray, n: int) -> np.ndarray:
        topics = self.topics[RNG.choice(own, size=n)]
        noise = RNG.normal(scale=0.055, size=(n, DIMS)).astype(np.float32)
        return unit(topics + style + noise).astype(np.float32)

    def off_topic(self, n: int) -> np.ndarray:
        picks = self.topics[RNG.choice(TOPICS, size=n, p=self.popularity)]
        noise = RNG.normal(scale=0.055, size=(n, DIMS)).astype(np.float32)
        return unit(picks + noise).astype(np.float32)


def load(corpus: Corpus) -> list[dict]:  # type: ignore[type-arg]
    """Create the workspaces and their chunks; return what the queries need."""
    owner = make_user("bench")
    with as_user(owner.pk):
        organization = services.organization_create(
            actor=owner, name="Bench", max_workspaces=None
        )
        workspaces = [
            services.workspace_create(organization=organization, name=f"ws {i}")
            for i in range(WORKSPACES)
        ]
    raw = connection.connection
    register_vector(raw)
    loaded = []
    for workspace, n in zip(workspaces, sizes(), strict=True):
        own, style = corpus.workspace_mix()
        vectors = corpus.draw(own, style, n)
        ids = [uuid.uuid4() for _ in range(n)]
        with as_workspace(workspace.pk), raw.cursor() as cursor:
            document_id = uuid.uuid4()
            cursor.execute(
                "INSERT INTO documents (id, workspace_id, title, source, content_type,"
                " file, size_bytes, content_hash, content, metadata, status, progress,"
                " stages, error, attempts, chunk_count, created_at, updated_at)"
                " VALUES (%s, %s, 'bench', '', 'text/plain', '', 0, '', '', '{}',"
                " 'ready', 100, '{}', '', 0, %s, now(), now())",
                [document_id, workspace.pk, n],
            )
            cursor.executemany(
                "INSERT INTO chunks (id, workspace_id, document_id, chunk_index,"
                " content, token_count, metadata, embedding, embedding_model,"
                " created_at) VALUES (%s, %s, %s, %s, '', 0, '{}', %s, 'bench',"
                " now())",
                [(ids[i], workspace.pk, document_id, i, vectors[i]) for i in range(n)],
            )
        loaded.append(
            {"workspace": workspace, "own": own, "style": style,
             "vectors": vectors, "ids": ids}
        )  # fmt: skip
    return loaded


def truth(entry: dict, query: np.ndarray) -> set:  # type: ignore[type-arg]
    similarity = entry["vectors"] @ query
    k = min(10, len(entry["ids"]))
    best = np.argpartition(-similarity, k - 1)[:k]
    floor = similarity[best].min() - 1e-5
    return {entry["ids"][i] for i in np.nonzero(similarity >= floor)[0]}


def timed_query(workspace, query: np.ndarray) -> tuple[list, float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter_ns()
    with as_workspace(workspace.pk):
        hits = vector_hits(workspace, query.tolist(), 10)
    return hits, (time.perf_counter_ns() - start) / 1e6


def exact_query(workspace, query: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """The same query with index scans off: the B-tree + sort path."""
    start = time.perf_counter_ns()
    with as_workspace(workspace.pk), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(
            "SELECT c.id FROM chunks c WHERE c.workspace_id = %s"
            " AND c.embedding IS NOT NULL"
            " ORDER BY c.embedding::vector(384) <=> %s::vector(384) LIMIT 10",
            [workspace.pk, str(query.tolist())],
        )
        cursor.fetchall()
    return (time.perf_counter_ns() - start) / 1e6


def test_filtered_vector_search(django_db_blocker):  # type: ignore[no-untyped-def]
    corpus = Corpus()
    started = time.perf_counter()
    loaded = load(corpus)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    vector_indexes_sync()
    index_seconds = time.perf_counter() - started

    by_size = sorted(loaded, key=lambda e: len(e["ids"]))
    total = sum(len(e["ids"]) for e in loaded)
    running, median_entry = 0, by_size[-1]
    for entry in by_size:
        running += len(entry["ids"])
        if running >= total / 2:
            median_entry = entry
            break
    tiny = [e for e in by_size if len(e["ids"]) < 200][:20]
    largest = by_size[-1]

    classes = {
        "large": [(largest, corpus.draw(largest["own"], largest["style"], 1)[0])
                  for _ in range(QUERIES["large"])],
        "median": [(median_entry,
                    corpus.draw(median_entry["own"], median_entry["style"], 1)[0])
                   for _ in range(QUERIES["median"])],
        "tiny": [(e, corpus.draw(e["own"], e["style"], 1)[0])
                 for e in tiny for _ in range(QUERIES["tiny"] // len(tiny))],
        "tiny_off": [(e, corpus.off_topic(1)[0])
                     for e in tiny for _ in range(QUERIES["tiny_off"] // len(tiny))],
    }  # fmt: skip

    rows = []
    for name, queries in classes.items():
        for entry, query in queries[:10]:  # warm-up
            timed_query(entry["workspace"], query)
        recalls, short, latencies, exact = [], 0, [], []
        for entry, query in queries:
            hits, ms = timed_query(entry["workspace"], query)
            expected = truth(entry, query)
            found = {h.chunk_id for h in hits}
            recalls.append(len(found & expected) / min(10, len(entry["ids"])))
            short += len(hits) < min(10, len(entry["ids"]))
            latencies.append(ms)
            exact.append(exact_query(entry["workspace"], query))
        ours, baseline = summary(latencies), summary(exact)
        rows.append({
            "class": name,
            "rows": len(queries[0][0]["ids"]) if name in ("large", "median")
            else f"<200 (x{len(tiny)})",
            "recall@10": round(float(np.mean(recalls)), 4),
            "short": short,
            "p50 ms": ours["p50_ms"], "p95 ms": ours["p95_ms"],
            "exact p50": baseline["p50_ms"], "exact p95": baseline["p95_ms"],
            "p95 / exact": round(ours["p95_ms"] / baseline["p95_ms"], 2),
        })  # fmt: skip

    unfiltered = unfiltered_hnsw(largest, classes["large"])
    rls = rls_overhead(largest, tiny[0], corpus)

    large_row = rows[0]
    notes = [
        f"corpus: {total} chunks x {DIMS} dims in {len(loaded)} workspaces"
        f" (largest {len(largest['ids'])}, median workspace"
        f" {len(by_size[len(by_size) // 2]['ids'])});"
        f" loaded in {load_seconds:.0f} s, indexes built in {index_seconds:.0f} s",
        f"unfiltered HNSW on a one-workspace table of {len(largest['ids'])} rows:"
        f" p50 {unfiltered['p50_ms']} ms, p95 {unfiltered['p95_ms']} ms;"
        f" large p95 ratio {large_row['p95 ms'] / unfiltered['p95_ms']:.2f}"
        " (target <= 1.5)",
        f"RLS (runtime role in context) vs no RLS, same query: large p95"
        f" {rls['large_ratio']:.2f}, tiny p95 {rls['tiny_ratio']:.2f} (target <= 1.2);"
        f" plans identical apart from the policy filter: {rls['same_plan']}",
        *rls["plans"],
    ]
    publish("search", rows, notes)
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def unfiltered_hnsw(largest: dict, queries: list) -> dict:  # type: ignore[type-arg]
    """A table holding only the largest workspace's vectors, with its own HNSW."""
    from tenancy.db import owner_connection

    with owner_connection() as owner:
        with owner.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_single")
            cursor.execute(
                "CREATE TABLE bench_single (id uuid PRIMARY KEY, embedding vector(384))"
            )
        raw = owner.connection
        register_vector(raw)
        with raw.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_single VALUES (%s, %s)",
                list(zip(largest["ids"], largest["vectors"], strict=True)),
            )
        with owner.cursor() as cursor:
            cursor.execute("SET max_parallel_maintenance_workers = 0")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(
                "CREATE INDEX ON bench_single USING hnsw (embedding vector_cosine_ops)"
                " WITH (m = 16, ef_construction = 64)"
            )
            latencies = []
            for i, (_entry, query) in enumerate(queries):
                start = time.perf_counter_ns()
                with transaction.atomic():
                    cursor.execute("SET LOCAL hnsw.ef_search = %s", [EF_SEARCH])
                    cursor.execute(
                        "SELECT id FROM bench_single ORDER BY embedding <=> %s::vector"
                        " LIMIT 10",
                        [str(query.tolist())],
                    )
                    cursor.fetchall()
                if i >= 10:
                    latencies.append((time.perf_counter_ns() - start) / 1e6)
            cursor.execute("DROP TABLE bench_single")
    return summary(latencies)


def rls_overhead(largest: dict, tiny: dict, corpus: Corpus) -> dict:  # type: ignore[type-arg]
    """The same query with RLS (runtime role, in context) and without it."""
    from django.conf import settings

    from tenancy.db import owner_connection

    definer = settings.DATABASE_DEFINER_ROLE

    def measure(entry: dict, bypass: bool) -> tuple[dict, str]:  # type: ignore[type-arg]
        latencies, plan = [], ""
        for i in range(60):
            query = corpus.draw(entry["own"], entry["style"], 1)[0].tolist()
            sql, arguments = vector_statement(
                entry["workspace"], query, 10, SearchFilters()
            )
            start = time.perf_counter_ns()
            with transaction.atomic(), connection.cursor() as cursor:
                if bypass:
                    cursor.execute(f'SET LOCAL ROLE "{definer}"')
                else:
                    cursor.execute(
                        "SELECT set_config('app.current_workspace_id', %s, true)",
                        [str(entry["workspace"].pk)],
                    )
                # The product's statement and planner settings.
                with vector_settings(cursor, entry["workspace"], 10, SearchFilters()):
                    cursor.execute(sql, arguments)
                    cursor.fetchall()
                    if i == 0:
                        cursor.execute("EXPLAIN (COSTS OFF) " + sql, arguments)
                        plan = " | ".join(
                            re.sub(r"'\[[^]]*\]'", "'[…]'", r[0].strip())
                            for r in cursor.fetchall()
                        )
            if i >= 10:
                latencies.append((time.perf_counter_ns() - start) / 1e6)
        return summary(latencies), plan

    entries = (("large", largest), ("tiny", tiny))
    # With RLS: the runtime role, in the workspace's context, as the product.
    with_rls = {name: measure(entry, False) for name, entry in entries}
    with owner_connection() as owner, owner.cursor() as cursor:
        cursor.execute(f'GRANT SELECT ON chunks, documents TO "{definer}"')
    try:
        # Without: a role that bypasses RLS, for this comparison only.
        with owner_connection():
            results = {
                name: (with_rls[name], measure(entry, True)) for name, entry in entries
            }
    finally:
        with owner_connection() as owner, owner.cursor() as cursor:
            cursor.execute(f'REVOKE SELECT ON chunks, documents FROM "{definer}"')

    def access_path(plan: str) -> list[str]:
        """The scans and sorts of a plan, without RLS's InitPlan and filters."""
        nodes = re.findall(
            r"((?:Bitmap Heap |Bitmap Index |Index |Seq )Scan(?: using| on) \S+"
            r"|(?<![\w ])Sort(?! Key))",
            plan,
        )
        return [node.replace("Bitmap Heap Scan on", "Heap on") for node in nodes]

    same = all(
        access_path(with_rls[1]) == access_path(without[1])
        for with_rls, without in results.values()
    )
    return {
        "large_ratio": results["large"][0][0]["p95_ms"]
        / results["large"][1][0]["p95_ms"],
        "tiny_ratio": results["tiny"][0][0]["p95_ms"] / results["tiny"][1][0]["p95_ms"],
        "same_plan": same,
        "plans": [
            f"plan {name} {label}: {plan}"
            for name, ((_, with_plan), (_, without_plan)) in results.items()
            for label, plan in (("with RLS", with_plan), ("without", without_plan))
        ],
    }
