"""The development supervisor restarts a crashed FalkorDB server."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from knowledge.graph.server import listening
from tests.support.graph import free_port

ROOT = Path(__file__).resolve().parents[3]


def _server_pid(port: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(redis.Redis(port=port).info("server")["process_id"])
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_a_killed_server_comes_back_and_stops_with_the_supervisor(tmp_path):
    port = free_port()
    supervisor = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "graph_server.py"),
            "--port",
            str(port),
            "--interval",
            "0.1",
            "--no-parent",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "ATRIUM_GRAPH_BACKEND": "falkordb",
            "ATRIUM_GRAPH_DATA_DIR": str(tmp_path / "falkordb"),
        },
    )
    try:
        first = _server_pid(port)
        redis.Redis(port=port).execute_command(
            "GRAPH.QUERY", "workspace_probe", "CREATE (:Probe {name: 'kept'})"
        )
        time.sleep(1.2)  # the append-only file is synced every second

        os.kill(first, signal.SIGKILL)  # as a segfault would end it

        second = _server_pid(port)
        assert second != first
        kept = redis.Redis(port=port).execute_command(
            "GRAPH.QUERY", "workspace_probe", "MATCH (p:Probe) RETURN p.name"
        )
        assert kept[1] == [[b"kept"]]
    finally:
        supervisor.terminate()
        supervisor.wait(timeout=10)
    assert not listening("127.0.0.1", port)


def test_the_server_stops_when_the_process_that_started_it_ends(tmp_path):
    port = free_port()
    script = ROOT / "scripts" / "graph_server.py"
    # The supervisor's parent plays scripts/run.sh: a shell that then waits.
    parent = subprocess.Popen(
        ["bash", "-c", f'"{sys.executable}" "{script}" --port {port} & exec sleep 60'],
        cwd=ROOT,
        env={
            **os.environ,
            "ATRIUM_GRAPH_BACKEND": "falkordb",
            "ATRIUM_GRAPH_DATA_DIR": str(tmp_path / "falkordb"),
        },
    )
    try:
        _server_pid(port)
    finally:
        parent.kill()
        parent.wait(timeout=10)

    deadline = time.monotonic() + 10
    while listening("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not listening("127.0.0.1", port)
