"""A local server speaking OpenAI's ``POST /v1/embeddings`` wire protocol.

Vectors are derived from a hash of each input, so equal texts get equal
vectors; a script of canned failures (status codes) is answered first.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def vector_for(text: str, dimensions: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] - 127.5 + i % 7 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw))
    return [v / norm for v in raw]


@dataclass
class EmbeddingServer:
    dimensions: int = 384
    failures: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any]]:
        length = int(handler.headers.get("Content-Length", 0))
        body = json.loads(handler.rfile.read(length) or b"{}")
        self.requests.append(
            {
                "path": handler.path,
                "authorization": handler.headers.get("Authorization", ""),
                "body": body,
            }
        )
        if handler.path != "/v1/embeddings":
            return 404, {"error": {"message": "not found", "type": "invalid_request"}}
        if self.failures:
            status = self.failures.pop(0)
            return status, {
                "error": {
                    "message": "upstream says: token sk-leaky-secret rejected",
                    "type": "rate_limit_exceeded" if status == 429 else "server_error",
                }
            }
        inputs = body["input"]
        inputs = [inputs] if isinstance(inputs, str) else inputs
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": vector_for(t, self.dimensions),
            }
            for i, t in enumerate(inputs)
        ]
        tokens = sum(len(t.split()) for t in inputs)
        return 200, {
            "object": "list",
            # Out of order on purpose: clients must sort by index.
            "data": list(reversed(data)),
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


@contextmanager
def embedding_server(**options: Any) -> Iterator[EmbeddingServer]:
    """Serve on 127.0.0.1 at a random port for the length of the block."""
    state = EmbeddingServer(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            status, payload = state.answer(self)
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
