"""Ingestion throughput as a ratio to the raw embedding model.

The pipeline runs as deployed: a real ingest worker and a real embed worker
(one process each, on the same cores as everything else), Markdown
documents uploaded one by one, the clock running from the first upload
until the last document is ready (parsed, chunked, embedded, every stage
committed). Right after, the raw model embeds the very same chunk texts in
this process, in batches of the same size, twice; the faster run is the
yardstick. That is one round; the benchmark runs ROUNDS of them, each on
new documents, so pipeline and model take turns on the machine and the
spread of the per-round ratios shows its noise. Target (issue 4): the
pipeline reaches at least 0.7x the model's chunks per second.

Both workers are warmed up (model loaded, modules imported) on one document
before the first round, as a running deployment is.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from django.conf import settings

from bench.report import publish
from config.celery import app
from knowledge import services
from knowledge.embeddings import get_provider
from knowledge.models import Chunk, Document, DocumentStatus
from tenancy.context import as_workspace
from tests.support.worker import start_worker, stop_worker

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTS = 60
ROUNDS = 3
PARAGRAPH = (
    "Atrium keeps each workspace's documents apart. Agents answer from them "
    "with citations, and administrators watch ingestion stage by stage. "
)


def document_text(number: int) -> str:
    sections = [
        f"## Section {s}\n\n" + f"Document {number}, part {s}. " + PARAGRAPH * 6
        for s in range(3)
    ]
    return f"# Handbook {number}\n\n" + "\n\n".join(sections)


def round_run(workspace, number: int) -> tuple[float, list[str]]:  # type: ignore[no-untyped-def]
    """Upload one round's documents and wait until all are ready.

    Returns the seconds from the first upload to the last ``ready`` and the
    texts of the chunks the pipeline made.
    """
    already = ready_count(workspace)
    first = number * DOCUMENTS
    started = time.perf_counter()
    documents = [
        create(workspace, f"handbook-{n}.md", document_text(n))
        for n in range(first, first + DOCUMENTS)
    ]
    wait_ready(workspace, already + DOCUMENTS, timeout=1800)
    seconds = time.perf_counter() - started
    with as_workspace(workspace.pk):
        texts = list(
            Chunk.objects.filter(
                workspace=workspace, document_id__in=[d.pk for d in documents]
            ).values_list("content", flat=True)
        )
    return seconds, texts


def create(workspace, name: str, text: str) -> Document:  # type: ignore[no-untyped-def]
    with as_workspace(workspace.pk):
        return services.document_create(
            workspace=workspace, file=io.BytesIO(text.encode()), filename=name
        ).document


def ready_count(workspace) -> int:  # type: ignore[no-untyped-def]
    with as_workspace(workspace.pk):
        return Document.objects.filter(
            workspace_id=workspace.pk, status=DocumentStatus.READY
        ).count()


def wait_ready(workspace, count: int, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while ready_count(workspace) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {ready_count(workspace)} of {count} ready")
        time.sleep(0.02)


def raw_seconds(texts: list[str]) -> float:
    provider = get_provider()
    batch = int(settings.ATRIUM_EMBEDDING_BATCH_SIZE)
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        provider.embed(texts[i : i + batch])
    return time.perf_counter() - started


def test_ingestion_throughput_against_the_raw_model(
    tenant_a,
    tmp_path: Path,
    settings,  # type: ignore[no-untyped-def]
):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    workspace = tenant_a.workspace
    with app.connection_for_write() as connection:
        for queue in ("ingest", "embed"):
            connection.default_channel.queue_purge(queue)
    env = {"ATRIUM_MEDIA_ROOT": str(media)}
    workers = [
        start_worker(tmp_path, queues=("ingest",), extra_env=env),
        start_worker(tmp_path, queues=("embed",), extra_env=env),
    ]
    get_provider().embed(["warm up the model"])
    rounds = []
    try:
        create(workspace, "warm-up.md", document_text(-1))
        wait_ready(workspace, 1, timeout=300)
        for number in range(ROUNDS):
            pipeline, texts = round_run(workspace, number)
            # The faster of two raw runs: the target is judged against the
            # model at its best.
            raw = min(raw_seconds(texts), raw_seconds(texts))
            rounds.append((len(texts), pipeline, raw))
    finally:
        for worker in workers:
            stop_worker(worker)

    chunks = sum(n for n, _, _ in rounds)
    pipeline_seconds = sum(p for _, p, _ in rounds)
    raw_total = sum(r for _, _, r in rounds)
    ratio = raw_total / pipeline_seconds
    per_round = ", ".join(f"{r / p:.2f}" for _, p, r in rounds)
    publish(
        "ingestion",
        [
            {
                "path": f"raw embedding model (best of 2, {ROUNDS} rounds)",
                "chunks": chunks,
                "seconds": round(raw_total, 2),
                "chunks/s": round(chunks / raw_total, 1),
            },
            {
                "path": f"whole pipeline, real workers ({ROUNDS} rounds)",
                "chunks": chunks,
                "seconds": round(pipeline_seconds, 2),
                "chunks/s": round(chunks / pipeline_seconds, 1),
            },
        ],
        [
            f"pipeline / raw model: {ratio:.2f} (target >= 0.7); rounds: {per_round};"
            f" {DOCUMENTS} documents a round, batch size"
            f" {settings.ATRIUM_EMBEDDING_BATCH_SIZE}, provider {get_provider().name}",
        ],
    )
