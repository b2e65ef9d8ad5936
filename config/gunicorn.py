"""gunicorn settings for the production image (deploy/entrypoint.sh).

Threaded workers: a streamed chat answer (server-sent events) holds one
thread, not a whole process, for as long as it streams.
"""

import os

bind = os.environ.get("ATRIUM_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("ATRIUM_WEB_THREADS", "8"))
# Long enough for a streamed answer from a slow model; the chat loop bounds
# its own steps and tokens well inside this.
timeout = int(os.environ.get("ATRIUM_WEB_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
# Restart workers now and then so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200
accesslog = None  # Atrium logs one structured line per request itself.
errorlog = "-"
forwarded_allow_ips = os.environ.get("ATRIUM_FORWARDED_ALLOW_IPS", "127.0.0.1")


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop a dead worker's live gauges from the merged metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
