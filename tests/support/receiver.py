"""A real HTTP receiver for webhook tests, and a worker on the default queue.

Import the fixtures into the test module that uses them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from config.celery import app
from tests.support.worker import Worker, start_worker, stop_worker


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (then ``default``)."""

    url: str
    script: list[int] = field(default_factory=list)
    default: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"received {len(self.requests)} of {count} requests")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.next_status()
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, {k: v for k, v in self.headers.items()}, body)
                )
            answer = f"answer {status} " + "x" * 3000
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def make_receiver() -> Iterator[Callable[..., Receiver]]:
    servers: list[ThreadingHTTPServer] = []

    def make(path: str = "/hook", **kwargs: Any) -> Receiver:
        receiver = Receiver(url="", **kwargs)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return receiver

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def default_worker(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Worker]:
    """A real worker on the default queue, with webhook retries in tenths."""
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("default")
    media: Path = tmp_path_factory.mktemp("media")
    with django_db_blocker.unblock():
        worker = start_worker(
            tmp_path_factory.mktemp("celery"),
            queues=("default",),
            extra_env={
                "ATRIUM_MEDIA_ROOT": str(media),
                "ATRIUM_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
                "ATRIUM_WEBHOOK_RETRY_MAX_SECONDS": "1",
                "ATRIUM_WEBHOOK_MAX_ATTEMPTS": "4",
            },
        )
    yield worker
    stop_worker(worker)
