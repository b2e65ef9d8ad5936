"""Ingestion throughput as a ratio to the raw embedding model.

The same Markdown documents go through the whole pipeline in process (store,
parse, chunk, embed in batches, commit each stage) and then their chunk
texts go straight through the embedding provider in batches of the same
size. Target (issue 4): the pipeline reaches at least 0.7x the model's
chunks per second.
"""

from __future__ import annotations

import io
import time

import pytest
from django.conf import settings

from bench.report import publish
from knowledge import services
from knowledge.embeddings import get_provider
from knowledge.models import Chunk
from tenancy.context import as_workspace
from tests.knowledge.conftest import ingest

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENTS = 60
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


def test_ingestion_throughput_against_the_raw_model(tenant_a):
    provider = get_provider()
    provider.embed(["warm up the model"])
    workspace = tenant_a.workspace

    started = time.perf_counter()
    for number in range(DOCUMENTS):
        with as_workspace(workspace.pk):
            document = services.document_create(
                workspace=workspace,
                file=io.BytesIO(document_text(number).encode()),
                filename=f"handbook-{number}.md",
            ).document
        ingest(document)
    pipeline_seconds = time.perf_counter() - started

    with as_workspace(workspace.pk):
        texts = list(
            Chunk.objects.filter(workspace=workspace).values_list("content", flat=True)
        )
    batch = int(settings.ATRIUM_EMBEDDING_BATCH_SIZE)
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        provider.embed(texts[i : i + batch])
    raw_seconds = time.perf_counter() - started

    pipeline_rate = len(texts) / pipeline_seconds
    raw_rate = len(texts) / raw_seconds
    publish(
        "ingestion",
        [
            {
                "path": "raw embedding model",
                "chunks": len(texts),
                "seconds": round(raw_seconds, 2),
                "chunks/s": round(raw_rate, 1),
            },
            {
                "path": "whole pipeline",
                "chunks": len(texts),
                "seconds": round(pipeline_seconds, 2),
                "chunks/s": round(pipeline_rate, 1),
            },
        ],
        [
            f"pipeline / raw model: {pipeline_rate / raw_rate:.2f} (target >= 0.7);"
            f" {DOCUMENTS} documents, batch size {batch}, provider {provider.name}"
        ],
    )
