"""What a chat costs beyond its model: retrieval, the tool loop and storage.

An extractive agent (no model time at all) answers over a stocked workspace
through the real API, in process, interleaved with the hybrid search call
its one tool makes, so both see the same conditions. The chat's latency is
then all overhead: search, the loop, storing the question and answer, and
metering. Streaming adds the time to the first event and to the first
token.
"""

from __future__ import annotations

import time

import pytest
from django.test import Client

from bench.report import publish, summary
from tenancy import services
from tenancy.context import as_user
from tests.agents.support import CORPUS, make_agent, stock

pytestmark = pytest.mark.django_db(transaction=True)

ROUNDS = 200
WARMUP = 20
QUESTIONS = [
    "How do I reset my password?",
    "Are annual plans refunded?",
    "What happens when I hit the API rate limit?",
]


def corpus() -> dict[str, str]:
    """The test corpus plus filler documents, about 60 chunks in all."""
    documents = dict(CORPUS)
    for n in range(57):
        documents[f"note-{n}.md"] = (
            f"# Note {n}\n\nTeam note number {n} about shipping, invoices, "
            f"laptops and meeting rooms; item {n * 7} is filed under {n % 5}."
        )
    return documents


def test_chat_overhead(tenant_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATRIUM_PLAN_RATE_LIMITS = {
        tier: 10**9 for tier in ("free", "starter", "pro", "enterprise")
    }
    stock(tenant_a.workspace, corpus())
    agent = make_agent(tenant_a.workspace, "bench", enabled_tools=["hybrid_search"])
    with as_user(tenant_a.owner.pk):
        key = services.api_key_create(
            workspace=tenant_a.workspace,
            name="bench",
            scopes=["chat", "search"],
            rate_limit_per_minute=10**6,
        )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    base = f"/v1/workspaces/{tenant_a.workspace.pk}"

    def post(path: str, body: dict[str, object]):  # type: ignore[no-untyped-def]
        return client.post(f"{base}/{path}", body, content_type="application/json")

    samples: dict[str, list[float]] = {
        "search": [],
        "chat": [],
        "first_event": [],
        "first_token": [],
        "stream_done": [],
    }
    for i in range(WARMUP + ROUNDS):
        query = QUESTIONS[i % len(QUESTIONS)]

        start = time.perf_counter_ns()
        response = post("search", {"query": query, "search_type": "hybrid", "limit": 6})
        searched = (time.perf_counter_ns() - start) / 1e6
        assert response.status_code == 200, response.content

        start = time.perf_counter_ns()
        response = post("chat", {"agent_id": str(agent.pk), "query": query})
        chatted = (time.perf_counter_ns() - start) / 1e6
        assert response.status_code == 200, response.content

        start = time.perf_counter_ns()
        response = post(
            "chat", {"agent_id": str(agent.pk), "query": query, "stream": True}
        )
        first_event = first_token = 0.0
        for chunk in response.streaming_content:
            now = (time.perf_counter_ns() - start) / 1e6
            first_event = first_event or now
            if b"event: token" in chunk:
                first_token = first_token or now
        done = (time.perf_counter_ns() - start) / 1e6

        if i >= WARMUP:
            samples["search"].append(searched)
            samples["chat"].append(chatted)
            samples["first_event"].append(first_event)
            samples["first_token"].append(first_token)
            samples["stream_done"].append(done)

    search = summary(samples["search"])
    rows = []
    for label, name in (
        ("hybrid search (POST /search)", "search"),
        ("chat, extractive (POST /chat)", "chat"),
        ("stream: first event", "first_event"),
        ("stream: first token", "first_token"),
        ("stream: done", "stream_done"),
    ):
        stats = summary(samples[name])
        rows.append(
            {
                "request": label,
                **stats,
                "p50 / search": round(stats["p50_ms"] / search["p50_ms"], 2),
                "p95 / search": round(stats["p95_ms"] / search["p95_ms"], 2),
            }
        )
    chat = summary(samples["chat"])
    publish(
        "chat",
        rows,
        [
            "The extractive agent spends no model time, so the chat row is the "
            "whole overhead: its one hybrid search, the loop, storage, metering.",
            f"Overhead beyond the search: p50 {chat['p50_ms'] - search['p50_ms']:.2f}"
            f" ms, p95 {chat['p95_ms'] - search['p95_ms']:.2f} ms.",
        ],
    )
