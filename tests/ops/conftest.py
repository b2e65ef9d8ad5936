"""Fixtures for the operations tests: captured log lines, clean counters."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tenancy import ratelimit
from tenancy.observability.logs import ContextFilter, JsonFormatter
from tests.support.graph import falkordb_server, graph_on  # noqa: F401
from tests.support.llm_servers import OpenAIServer


class CapturedLog:
    """Every line the configured JSON formatter wrote during a test."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == event]


@pytest.fixture
def json_log() -> Iterator[CapturedLog]:
    """Capture the root logger's output as production writes it (JSON)."""
    captured = CapturedLog()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture(autouse=True)
def _fresh_ops_counters() -> None:
    """Each test starts with empty per-minute counters and alert marks."""
    for key in ratelimit.client().scan_iter("atrium:ops:*"):
        ratelimit.client().delete(key)


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A local port where nothing listens, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
