"""A small metrics endpoint inside each Celery worker container.

The web processes serve ``/metrics`` for their own host; a worker runs in
another container with its own ``PROMETHEUS_MULTIPROC_DIR``, so its task
outcomes and stage durations would otherwise never be scraped. With
``ATRIUM_WORKER_METRICS_ADDRESS`` set (``host:port``), the worker's main
process serves the merged metrics of its pool there, to the same bearer
token as ``/metrics`` (no token configured: nothing is served).
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings

from tenancy.observability.metrics import exposition

logger = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    expected = str(settings.ATRIUM_METRICS_TOKEN)
    scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if environ.get("PATH_INFO") != "/metrics" or not expected:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
        )
        return [b"invalid metrics token\n"]
    body, content_type = exposition()
    start_response("200 OK", [("Content-Type", content_type)])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the worker's log."""


def serve(address: str) -> WSGIServer:
    """Serve the worker's metrics at ``address`` on a daemon thread."""
    host, _, port = address.rpartition(":")
    server = make_server(host, int(port), _app, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, name="atrium-metrics", daemon=True
    )
    thread.start()
    logger.info("worker metrics served on %s", address)
    return server
