"""/healthz and /readyz: each dependency down turns readiness to 503."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from tests.support.graph import GraphServer

pytestmark = pytest.mark.django_db

SECRET = "s3cret-Pa55word-for-readyz"


def ready() -> tuple[int, dict]:  # type: ignore[type-arg]
    response = Client().get("/readyz")
    return response.status_code, response.json()


def assert_only(body: dict, failed: str, *hidden: str) -> None:  # type: ignore[type-arg]
    assert body["status"] == "unavailable"
    assert body["failed"] == [failed]
    assert body["checks"][failed].startswith("error: ")
    text = str(body)
    for value in (SECRET, "127.0.0.1", *hidden):
        assert value not in text


def test_healthz_answers_while_the_process_runs() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_every_dependency_answers(graph_on: GraphServer) -> None:
    status, body = ready()

    assert status == 200, body
    assert body == {
        "status": "ok",
        "failed": [],
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "redis": "ok",
            "graph": "ok",
            "storage": "ok",
        },
    }


def test_the_graph_is_reported_off_when_turned_off(settings) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_GRAPH_BACKEND = "off"
    status, body = ready()
    assert status == 200
    assert body["checks"]["graph"] == "off"


def test_database_down(monkeypatch, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(connection.settings_dict, "PORT", str(closed_port))
    monkeypatch.setitem(connection.settings_dict, "PASSWORD", SECRET)

    status, body = ready()

    assert status == 503
    assert_only(body, "database", str(closed_port), connection.settings_dict["USER"])


def test_redis_down(settings, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    settings.CELERY_BROKER_URL = f"redis://:{SECRET}@127.0.0.1:{closed_port}/0"

    status, body = ready()

    assert status == 503
    assert_only(body, "redis", str(closed_port))


def test_cache_redis_down(settings, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://:{SECRET}@127.0.0.1:{closed_port}/0",
        }
    }

    status, body = ready()

    assert status == 503
    assert_only(body, "redis", str(closed_port))


def test_falkordb_down(settings, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_GRAPH_BACKEND = "falkordb"
    settings.ATRIUM_GRAPH_HOST = "127.0.0.1"
    settings.ATRIUM_GRAPH_PORT = closed_port
    settings.ATRIUM_GRAPH_PASSWORD = SECRET

    status, body = ready()

    assert status == 503
    assert_only(body, "graph", str(closed_port))


def test_plain_redis_is_not_a_graph_server(settings) -> None:  # type: ignore[no-untyped-def]
    """A Redis without the FalkorDB module answers PING but not GRAPH.LIST."""
    settings.ATRIUM_GRAPH_BACKEND = "falkordb"
    settings.ATRIUM_GRAPH_HOST = "127.0.0.1"
    settings.ATRIUM_GRAPH_PORT = 6379

    status, body = ready()

    assert status == 503
    assert_only(body, "graph")


def test_neo4j_down(settings, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    settings.ATRIUM_GRAPH_BACKEND = "neo4j"
    settings.ATRIUM_GRAPH_URL = f"bolt://127.0.0.1:{closed_port}"
    settings.ATRIUM_GRAPH_USERNAME = "neo4j"
    settings.ATRIUM_GRAPH_PASSWORD = SECRET

    status, body = ready()

    assert status == 503
    assert_only(body, "graph", str(closed_port))


def test_object_storage_down(settings, s3_server, closed_port: int) -> None:  # type: ignore[no-untyped-def]
    storages = s3_server.storages()
    storages["default"]["OPTIONS"]["endpoint_url"] = f"http://127.0.0.1:{closed_port}"
    settings.STORAGES = storages

    status, body = ready()

    assert status == 503
    assert_only(
        body,
        "storage",
        str(closed_port),
        s3_server.access_key_id,
        s3_server.secret_access_key,
    )


def test_a_media_directory_that_cannot_be_made(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "volume").write_text("a file where the volume should be")
    settings.MEDIA_ROOT = tmp_path / "volume" / "media"

    status, body = ready()

    assert status == 503
    assert_only(body, "storage")


def test_an_unapplied_migration(settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Accounts' migrations plus one more that the database has not seen."""
    import accounts.migrations as shipped

    package = tmp_path / "pending_accounts_migrations"
    shutil.copytree(Path(shipped.__path__[0]), package)
    latest = sorted(path.stem for path in package.glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]
    (package / "9999_pending.py").write_text(
        "from django.db import migrations\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    dependencies = [('accounts', '{latest}')]\n"
        "    operations = []\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pending_accounts_migrations", raising=False)
    settings.MIGRATION_MODULES = {"accounts": "pending_accounts_migrations"}

    status, body = ready()

    assert status == 503
    assert body["failed"] == ["migrations"]
    assert body["checks"]["migrations"] == "1 unapplied"


def test_probes_answer_over_http_for_any_host(settings) -> None:  # type: ignore[no-untyped-def]
    """Orchestrators probe the pod's address over plain HTTP."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["atrium.example.com"]
    client = Client(HTTP_HOST="10.1.2.3:8000")

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    # Everything else still gets the host check.
    assert client.get("/v1/organizations").status_code == 400
