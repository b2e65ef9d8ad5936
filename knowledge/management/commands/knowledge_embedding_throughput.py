"""Measure the configured embedding provider's throughput on generated chunks.

A measurement, not a test: it prints chunks per second and tokens per second
for chunks of about the default chunk size, so the figures in
docs/ingestion.md can be reproduced on any machine.
"""

from __future__ import annotations

import random
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from knowledge.embeddings import get_provider

_VOCABULARY = (
    "invoice refund customer support billing account workspace document "
    "search answer policy release network latency upgrade password security "
    "report quarter revenue region contract renewal onboarding handbook "
    "schedule team"
)
WORDS = _VOCABULARY.split()


def sample_chunk(rng: random.Random, characters: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < characters:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14)))
        words.extend((sentence.capitalize() + ".").split())
    return " ".join(words)[:characters]


class Command(BaseCommand):
    help = "Print the embedding provider's throughput (chunks/s, tokens/s)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=512)
        parser.add_argument("--characters", type=int, default=1000)
        parser.add_argument(
            "--batch-size", type=int, default=settings.ATRIUM_EMBEDDING_BATCH_SIZE
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rng = random.Random(4)  # noqa: S311 (sample text, not secrets)
        texts = [
            sample_chunk(rng, options["characters"]) for _ in range(options["chunks"])
        ]
        provider = get_provider()

        started = time.perf_counter()
        provider.embed(texts[:1])
        load = time.perf_counter() - started

        tokens = 0
        started = time.perf_counter()
        size = options["batch_size"]
        for offset in range(0, len(texts), size):
            tokens += provider.embed(texts[offset : offset + size]).tokens
        elapsed = time.perf_counter() - started

        self.stdout.write(
            f"provider {provider.name}: {len(texts)} chunks of {options['characters']} "
            f"characters, batch {size}\n"
            f"first call (load) {load:.2f} s; {elapsed:.2f} s for all chunks\n"
            f"{len(texts) / elapsed:.1f} chunks/s, {tokens / elapsed:.0f} tokens/s, "
            f"{tokens / len(texts):.0f} tokens per chunk"
        )
