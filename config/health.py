"""Liveness (``/healthz``) and readiness (``/readyz``) probes.

Readiness asks every dependency a request may need: PostgreSQL (on a fresh
connection, so a dead server is seen even while an old connection lingers),
every Redis the process uses (cache and Celery broker), the graph backend
when the graph is on, the storage of uploaded files, and whether every
migration has been applied. Each
probe is bounded by ``ATRIUM_READYZ_TIMEOUT`` seconds. A failed check reports
only its exception's class name: never a host, a user or a password.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _timeout() -> float:
    return float(settings.ATRIUM_READYZ_TIMEOUT)


def _check_database() -> str:
    current = connections[DEFAULT_DB_ALIAS].settings_dict
    probe_settings = {
        **current,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {
            **current.get("OPTIONS", {}),
            "connect_timeout": max(1, round(_timeout())),
        },
    }
    backend = load_backend(probe_settings["ENGINE"])
    probe = backend.DatabaseWrapper(probe_settings, alias=DEFAULT_DB_ALIAS)
    try:
        with probe.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        probe.close()
    return "ok"


def _check_migrations() -> str:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return "ok" if not plan else f"{len(plan)} unapplied"


def _redis_urls() -> list[str]:
    urls = [settings.CACHES["default"]["LOCATION"], settings.CELERY_BROKER_URL]
    unique = []
    for url in urls:
        redis_url = isinstance(url, str) and url.startswith(("redis://", "rediss://"))
        if redis_url and url not in unique:
            unique.append(url)
    return unique


def _check_redis() -> str:
    for url in _redis_urls():
        client = redis.Redis.from_url(
            url, socket_timeout=_timeout(), socket_connect_timeout=_timeout()
        )
        try:
            client.ping()
        finally:
            client.close()
    return "ok"


def _check_graph() -> str:
    kind = settings.ATRIUM_GRAPH_BACKEND
    if kind == "falkordb":
        client = redis.Redis(
            host=settings.ATRIUM_GRAPH_HOST,
            port=settings.ATRIUM_GRAPH_PORT,
            username=settings.ATRIUM_GRAPH_USERNAME or None,
            password=settings.ATRIUM_GRAPH_PASSWORD or None,
            socket_timeout=_timeout(),
            socket_connect_timeout=_timeout(),
        )
        try:
            # GRAPH.LIST proves the FalkorDB module answers, not only Redis.
            client.execute_command("GRAPH.LIST")
        finally:
            client.close()
        return "ok"
    if kind == "neo4j":
        from neo4j import GraphDatabase

        driver = GraphDatabase.driver(
            settings.ATRIUM_GRAPH_URL,
            auth=(settings.ATRIUM_GRAPH_USERNAME, settings.ATRIUM_GRAPH_PASSWORD),
            connection_timeout=_timeout(),
            connection_acquisition_timeout=_timeout(),
        )
        try:
            driver.verify_connectivity(database=settings.ATRIUM_GRAPH_NEO4J_DATABASE)
        finally:
            driver.close()
        return "ok"
    return "off"


def _check_storage() -> str:
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        # The media directory is created on the first upload: the nearest
        # directory that exists must let this process write.
        root = Path(storage.location)
        existing = next(path for path in (root, *root.parents) if path.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError("the media directory cannot be written")
        return "ok"
    from tenancy.object_storage import PrivateS3Storage

    if not isinstance(storage, PrivateS3Storage):
        raise TypeError("unknown storage backend")
    storage.probe(timeout=_timeout())
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": _check_database,
    "migrations": _check_migrations,
    "redis": _check_redis,
    "graph": _check_graph,
    "storage": _check_storage,
}
PASSING = ("ok", "off")


def readyz(request: HttpRequest) -> JsonResponse:
    """Every dependency answers: 200, else 503 naming the failed checks."""
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a probe reports failures, it never raises
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = f"error: {type(exc).__name__}"
    failed = sorted(name for name, value in results.items() if value not in PASSING)
    return JsonResponse(
        {
            "status": "unavailable" if failed else "ok",
            "failed": failed,
            "checks": results,
        },
        status=503 if failed else 200,
    )


PROBES: dict[str, Callable[[HttpRequest], JsonResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
}


class ProbeMiddleware:
    """Answer ``/healthz`` and ``/readyz`` before any other middleware runs.

    Orchestrators probe over plain HTTP with the pod's address as Host, and
    readiness must answer even when the database is down; past this point
    the HTTPS redirect, the host check and the request's database
    transaction would each turn the answer into something else. Probes
    carry no credentials and touch no tenant data.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
