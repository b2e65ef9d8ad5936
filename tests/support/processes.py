"""Ending the server and worker processes that tests start."""

from __future__ import annotations

import subprocess


def process_stop(process: subprocess.Popen[bytes], *, timeout: float = 20) -> None:
    """Ask ``process`` to end (SIGTERM), and kill it if it has not in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
