"""Filtered vector search across many workspaces: recall and latency.

A generated corpus of at least 300,000 chunks x 384 dimensions in 500
workspaces (sizes Zipf-like: largest 60,000, median about 140), vectors from
a Gaussian mixture of shared topics plus a per-workspace offset, so nearest
neighbours mean something. Atrium's own query (``vector_hits``) runs inside
each workspace's tenant context, as the product does, after
``atrium_vector_indexes`` gave the large workspaces their HNSW indexes.

Measured side by side in one run, each class in ``ROUNDS`` rounds of
shuffled queries, every query run back to back against its yardstick (the
order rotating), so both sides meet the same machine; the spread of the
per-round ratios is reported as the noise:

- recall@10 against exact top-10 (numpy, same vectors) for the largest
  workspace, the workspace holding the median chunk, tiny workspaces, and
  tiny workspaces asked off-topic questions; queries returning fewer than
  min(10, N) rows are counted;
- p50/p95 latency of each class, of exact search (the B-tree path forced)
  on the same workspaces, and of unfiltered HNSW over a one-workspace table
  of the largest workspace's vectors, built with the same parameters and
  searched at the same ef_search (its recall is reported too);
- row-level security: the largest workspace's and the tiny workspaces'
  queries with RLS (the runtime role in context) against the same
  statements without it (a role that bypasses RLS), each side on a
  connection of its own with the same client code, and both plans compared.

Targets (DESIGN.md §4): recall >= 0.99 in every class, no short results;
large p95 <= 1.5x unfiltered HNSW; small p95 <= 2x exact; RLS p95 <= 1.2x.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from pgvector.psycopg import register_vector

from bench.report import publish, summary
from knowledge.search import SearchFilters
from knowledge.search.core import script_rows, vector_hits, vector_script
from knowledge.search.indexes import BuildParameters, vector_indexes_sync
from tenancy import services
from tenancy.context import as_user, as_workspace
from tenancy.db import owner_connection
from tests.support.tenants import make_user

pytestmark = pytest.mark.django_db(transaction=True)

DIMS = 384
WORKSPACES = 500
LARGEST = 60_000
TOTAL_MIN = 300_000
TOPICS = 4000
# Chunks per document: a search reads its hits' titles from their documents.
CHUNKS_PER_DOCUMENT = 40
QUERIES = {"large": 100, "median": 100, "tiny": 100, "tiny_off": 100}
RNG = np.random.default_rng(20261203)
# The same ef_search as the product, so the baselines compare like with like.
EF_SEARCH = settings.ATRIUM_HNSW_EF_SEARCH
BUILD_MEMORY = settings.ATRIUM_INDEX_BUILD_MEMORY
# Each class is measured this many times over, its queries shuffled each
# time; the spread of the per-round ratios is the noise of the machine.
ROUNDS = 3


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
    loaded: list[dict[str, Any]] = []
    for workspace, n in zip(workspaces, sizes(), strict=True):
        own, style = corpus.workspace_mix()
        documents = [uuid.uuid4() for _ in range(-(-n // CHUNKS_PER_DOCUMENT))]
        loaded.append(
            {"workspace": workspace, "own": own, "style": style,
             "vectors": corpus.draw(own, style, n),
             "ids": [uuid.uuid4() for _ in range(n)],
             "documents": documents}
        )  # fmt: skip
    # COPY cannot write into a table under row-level security: the rows go
    # to a temporary table first, then into each workspace in its context.
    with transaction.atomic(), raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE bench_load (id uuid, workspace_id uuid,"
            " document_id uuid, position int, embedding vector(384)) ON COMMIT DROP"
        )
        with cursor.copy("COPY bench_load FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["uuid", "uuid", "uuid", "int4", "vector"])
            for entry in loaded:
                workspace_id, documents = entry["workspace"].pk, entry["documents"]
                for i, vector in enumerate(entry["vectors"]):
                    document_id = documents[i // CHUNKS_PER_DOCUMENT]
                    copy.write_row(
                        (entry["ids"][i], workspace_id, document_id, i, vector)
                    )
        for entry in loaded:
            workspace = entry["workspace"]
            counts = [
                min(CHUNKS_PER_DOCUMENT, len(entry["ids"]) - i * CHUNKS_PER_DOCUMENT)
                for i in range(len(entry["documents"]))
            ]
            with as_workspace(workspace.pk):
                cursor.execute(
                    "INSERT INTO documents (id, workspace_id, title, source,"
                    " content_type, file, size_bytes, content_hash, content, metadata,"
                    " status, progress, stages, error, attempts, chunk_count,"
                    " created_at, updated_at) SELECT d.id, %s, 'bench ' || d.n, '',"
                    " 'text/plain', '', 0, '', '', '{}', 'ready', 100, '{}', '', 0,"
                    " d.chunks, now(), now()"
                    " FROM unnest(%s::uuid[], %s::int[]) WITH ORDINALITY"
                    " AS d(id, chunks, n)",
                    [workspace.pk, entry["documents"], counts],
                )
                cursor.execute(
                    "INSERT INTO chunks (id, workspace_id, document_id, chunk_index,"
                    " content, token_count, metadata, embedding, embedding_model,"
                    " created_at) SELECT id, workspace_id, document_id,"
                    f" mod(position, {CHUNKS_PER_DOCUMENT}), '', 0, '{{}}', embedding,"
                    " 'bench', now() FROM bench_load WHERE workspace_id = %s",
                    [workspace.pk],
                )
    with owner_connection() as schema_owner, schema_owner.cursor() as cursor:
        cursor.execute("ANALYZE chunks")
        cursor.execute("ANALYZE documents")
    return loaded


def truth(entry: dict, query: np.ndarray) -> set:  # type: ignore[type-arg]
    similarity = entry["vectors"] @ query
    k = min(10, len(entry["ids"]))
    best = np.argpartition(-similarity, k - 1)[:k]
    floor = similarity[best].min() - 1e-5
    return {entry["ids"][i] for i in np.nonzero(similarity >= floor)[0]}


def timed_query(workspace, query: np.ndarray) -> tuple[list, float]:  # type: ignore[no-untyped-def]
    """Atrium's own search, in the workspace's tenant context."""
    start = time.perf_counter_ns()
    with as_workspace(workspace.pk):
        hits = vector_hits(workspace, query.tolist(), 10)
    return hits, (time.perf_counter_ns() - start) / 1e6


def exact_query(workspace, query: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """The same search with index scans off: the B-tree + sort path.

    One round trip in the tenant context, as Atrium's own search.
    """
    start = time.perf_counter_ns()
    with as_workspace(workspace.pk), connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL enable_indexscan = off;"
            " SELECT c.id FROM chunks c WHERE c.workspace_id = %s"
            " AND c.embedding IS NOT NULL"
            " ORDER BY c.embedding::vector(384) <=> %s::vector(384) LIMIT 10",
            [workspace.pk, str(query.tolist())],
        )
        cursor.nextset()
        cursor.fetchall()
    return (time.perf_counter_ns() - start) / 1e6


def unfiltered_query(query: np.ndarray) -> tuple[list, float]:
    """Plain HNSW over a table of one workspace's vectors: the yardstick.

    The same ef_search as Atrium's search and one round trip in a
    transaction; only ids are read, no join, no tenant context.
    """
    start = time.perf_counter_ns()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SET LOCAL hnsw.ef_search = %s;"
            " SELECT id FROM bench_single ORDER BY embedding <=> %s::vector LIMIT 10",
            [EF_SEARCH, str(query.tolist())],
        )
        cursor.nextset()
        ids = [row[0] for row in cursor.fetchall()]
    return ids, (time.perf_counter_ns() - start) / 1e6


def raw_connection(*, bypass: bool) -> psycopg.Connection:  # type: ignore[type-arg]
    """A connection of its own to the test database, for the RLS comparison.

    Without ``bypass``, the runtime role, under row-level security. With it,
    the owner logs in and becomes the definer role for the session, which
    bypasses RLS (the runtime role may not). Both use the runtime's
    connection options and client-side binding, and the same client code,
    so the two sides differ in the role alone.
    """
    db = connection.settings_dict
    login = settings.DATABASE_OWNER if bypass else db
    raw = psycopg.connect(
        dbname=db["NAME"],
        user=login["USER"],
        password=login.get("PASSWORD") or None,
        host=login.get("HOST") or "127.0.0.1",
        port=login.get("PORT") or 5432,
        # The runtime's own connection options (custom plans, no JIT).
        options=db["OPTIONS"]["options"],
        cursor_factory=psycopg.ClientCursor,
        autocommit=True,
    )
    if bypass:
        raw.execute(f'SET ROLE "{settings.DATABASE_DEFINER_ROLE}"')
    raw.autocommit = False
    return raw


def rls_query(
    entry: dict,  # type: ignore[type-arg]
    query: np.ndarray,
    raw: psycopg.Connection,  # type: ignore[type-arg]
    *,
    explain: bool = False,
) -> tuple[float, list]:  # type: ignore[type-arg]
    """Atrium's vector script in the workspace's context, on ``raw``.

    One transaction: the tenant context, then the script, as a request.
    """
    script, arguments = vector_script(
        entry["workspace"], query.tolist(), 10, SearchFilters(), explain=explain
    )
    start = time.perf_counter_ns()
    with raw.transaction(), raw.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.current_workspace_id', %s, true)",
            [str(entry["workspace"].pk)],
        )
        cursor.execute(script, arguments)
        rows = script_rows(cursor)
    return (time.perf_counter_ns() - start) / 1e6, rows


def rls_plan(entry: dict, query: np.ndarray, raw) -> str:  # type: ignore[no-untyped-def, type-arg]
    _ms, rows = rls_query(entry, query, raw, explain=True)
    return " | ".join(re.sub(r"'\[[^]]*\]'", "'[…]'", row[0].strip()) for row in rows)


def access_path(plan: str) -> list[str]:
    """The scans and sorts of a plan, without RLS's InitPlans and filters."""
    nodes = re.findall(
        r"((?:Bitmap Heap |Bitmap Index |Index |Seq )Scan(?: using| on) \S+"
        r"|(?<![\w ])Sort(?! Key))",
        plan,
    )
    return [node.replace("Bitmap Heap Scan on", "Heap on") for node in nodes]


def interleaved(
    queries: list,
    runs: dict[str, Callable[..., float]],  # type: ignore[type-arg]
) -> dict[str, list[list[float]]]:
    """Latencies of each run per round; the runs of one query go back to back.

    The order of the runs rotates from query to query and the queries are
    shuffled each round, so neither side always finds the caches the other
    left behind.
    """
    names = list(runs)
    rounds: dict[str, list[list[float]]] = {name: [] for name in names}
    for _ in range(ROUNDS):
        order = RNG.permutation(len(queries))
        samples: dict[str, list[float]] = {name: [] for name in names}
        for turn, position in enumerate(order):
            entry, query = queries[position]
            for k in range(len(names)):
                name = names[(turn + k) % len(names)]
                samples[name].append(runs[name](entry, query))
        for name in names:
            rounds[name].append(samples[name])
    return rounds


def ratio_spread(
    rounds: dict[str, list[list[float]]], ours: str, theirs: str
) -> tuple[float, float, float, float]:
    """p95 ratio over all rounds, and its lowest, median and highest round."""
    pooled = (
        summary([x for r in rounds[ours] for x in r])["p95_ms"]
        / summary([x for r in rounds[theirs] for x in r])["p95_ms"]
    )
    each = sorted(
        summary(a)["p95_ms"] / summary(b)["p95_ms"]
        for a, b in zip(rounds[ours], rounds[theirs], strict=True)
    )
    return pooled, each[0], float(np.median(each)), each[-1]


def spread_text(spread: tuple[float, float, float, float]) -> str:
    pooled, low, middle, high = spread
    return f"{pooled:.2f} (rounds: min {low:.2f}, median {middle:.2f}, max {high:.2f})"


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

    started = time.perf_counter()
    single_build = single_index_create(largest)
    try:
        rows, spreads, single = measure(classes, tiny[0])
    finally:
        single_index_drop()
    measure_seconds = time.perf_counter() - started

    parameters = BuildParameters.configured()
    notes = [
        f"corpus: {total} chunks x {DIMS} dims in {len(loaded)} workspaces"
        f" (largest {len(largest['ids'])}, median workspace"
        f" {len(by_size[len(by_size) // 2]['ids'])});"
        f" loaded in {load_seconds:.0f} s, workspace indexes built in"
        f" {index_seconds:.0f} s, measured in {measure_seconds:.0f} s",
        f"HNSW m = {parameters.m}, ef_construction = {parameters.ef_construction},"
        f" ef_search = {EF_SEARCH} for Atrium and for the unfiltered yardstick;"
        f" {ROUNDS} interleaved rounds per class",
        f"unfiltered HNSW on a one-workspace table of {len(largest['ids'])} rows"
        f" (built in {single_build:.0f} s): recall {single['recall']:.4f},"
        f" p50 {single['p50_ms']} ms, p95 {single['p95_ms']} ms;"
        f" large p95 / unfiltered p95 {spread_text(spreads['large_unfiltered'])}"
        " (target <= 1.5)",
        f"small p95 / exact p95: tiny {spread_text(spreads['tiny_exact'])},"
        f" tiny off-topic {spread_text(spreads['tiny_off_exact'])} (target <= 2)",
        f"RLS (runtime role in context) vs no RLS, same queries and statement:"
        f" large p95 {spread_text(spreads['rls_large'])},"
        f" tiny p95 {spread_text(spreads['rls_tiny'])} (target <= 1.2);"
        f" same access path with and without RLS: {spreads['same_plan']}",
        *spreads["plans"],
    ]
    publish("search", rows, notes)
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


def measure(classes: dict, tiny: dict) -> tuple[list, dict, dict]:  # type: ignore[type-arg]
    """Every class's recall and latencies, each side by side with its yardstick."""

    def ours(entry: dict, query: np.ndarray) -> float:  # type: ignore[type-arg]
        return timed_query(entry["workspace"], query)[1]

    def exact(entry: dict, query: np.ndarray) -> float:  # type: ignore[type-arg]
        return exact_query(entry["workspace"], query)

    def unfiltered(_entry: dict, query: np.ndarray) -> float:  # type: ignore[type-arg]
        return unfiltered_query(query)[1]

    rows: list[dict[str, Any]] = []
    spreads: dict[str, Any] = {}
    single: dict = {}  # type: ignore[type-arg]
    for name, queries in classes.items():
        recalls, short = [], 0
        for entry, query in queries:
            hits, _ms = timed_query(entry["workspace"], query)  # also a warm-up
            expected = truth(entry, query)
            found = {h.chunk_id for h in hits}
            recalls.append(len(found & expected) / min(10, len(entry["ids"])))
            short += len(hits) < min(10, len(entry["ids"]))
        runs: dict[str, Callable[..., float]] = {"ours": ours, "exact": exact}
        if name == "large":
            runs["unfiltered"] = unfiltered
            single_recalls = []
            for entry, query in queries:
                ids, _ms = unfiltered_query(query)
                single_recalls.append(len(set(ids) & truth(entry, query)) / 10)
        rounds = interleaved(queries, runs)
        ours_all = summary([x for r in rounds["ours"] for x in r])
        exact_all = summary([x for r in rounds["exact"] for x in r])
        spreads[f"{name}_exact"] = ratio_spread(rounds, "ours", "exact")
        if name == "large":
            spreads["large_unfiltered"] = ratio_spread(rounds, "ours", "unfiltered")
            single = {
                **summary([x for r in rounds["unfiltered"] for x in r]),
                "recall": float(np.mean(single_recalls)),
            }
        rows.append({
            "class": name,
            "rows": len(queries[0][0]["ids"]) if name in ("large", "median")
            else f"<200 (x{len({id(e) for e, _ in queries})})",
            "recall@10": round(float(np.mean(recalls)), 4),
            "min recall": round(float(np.min(recalls)), 2),
            "short": short,
            "p50 ms": ours_all["p50_ms"], "p95 ms": ours_all["p95_ms"],
            "exact p50": exact_all["p50_ms"], "exact p95": exact_all["p95_ms"],
            "p95 / exact": round(spreads[f"{name}_exact"][0], 2),
        })  # fmt: skip
        print(rows[-1], flush=True)

    with owner_connection() as owner, owner.cursor() as cursor:
        cursor.execute(
            f'GRANT SELECT ON chunks, documents TO "{settings.DATABASE_DEFINER_ROLE}"'
        )
    with_rls, without_rls = raw_connection(bypass=False), raw_connection(bypass=True)
    try:
        plans, same = [], True
        # Every query of the class (the tiny class spans 20 workspaces); the
        # plans are compared on one workspace of each.
        for name, entry in (("large", classes["large"][0][0]), ("tiny", tiny)):
            queries = classes[name]
            rounds = interleaved(
                queries,
                {
                    "rls": lambda e, q: rls_query(e, q, with_rls)[0],
                    "bypass": lambda e, q: rls_query(e, q, without_rls)[0],
                },
            )
            spreads[f"rls_{name}"] = ratio_spread(rounds, "rls", "bypass")
            query = next(q for e, q in queries if e is entry)
            planned = rls_plan(entry, query, with_rls)
            unplanned = rls_plan(entry, query, without_rls)
            same = same and access_path(planned) == access_path(unplanned)
            plans += [
                f"plan {name} with RLS: {planned}",
                f"plan {name} without: {unplanned}",
            ]
    finally:
        with_rls.close()
        without_rls.close()
        with owner_connection() as owner, owner.cursor() as cursor:
            cursor.execute(
                "REVOKE SELECT ON chunks, documents"
                f' FROM "{settings.DATABASE_DEFINER_ROLE}"'
            )
    spreads["plans"] = plans
    spreads["same_plan"] = same
    return rows, spreads, single


def single_index_create(largest: dict) -> float:  # type: ignore[type-arg]
    """A table of only the largest workspace's vectors, with its own HNSW.

    Built with Atrium's own build parameters, and readable by the runtime
    role so the yardstick runs on the same connection as Atrium's search.
    """
    parameters = BuildParameters.configured()
    with owner_connection() as owner:
        with owner.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_single")
            cursor.execute(
                "CREATE TABLE bench_single (id uuid PRIMARY KEY, embedding vector(384))"
            )
        raw = owner.connection
        register_vector(raw)
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bench_single FROM STDIN WITH (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["uuid", "vector"])
            for row in zip(largest["ids"], largest["vectors"], strict=True):
                copy.write_row(row)
        started = time.perf_counter()
        with owner.cursor() as cursor:
            cursor.execute("SET max_parallel_maintenance_workers = 0")
            cursor.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
            cursor.execute(
                "CREATE INDEX ON bench_single USING hnsw (embedding vector_cosine_ops)"
                f" {parameters.with_clause}"
            )
            cursor.execute("ANALYZE bench_single")
            cursor.execute(
                f'GRANT SELECT ON bench_single TO "{settings.DATABASE_APP_ROLE}"'
            )
    return time.perf_counter() - started


def single_index_drop() -> None:
    with owner_connection() as owner, owner.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_single")
