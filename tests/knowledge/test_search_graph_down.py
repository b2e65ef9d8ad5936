"""An unreachable graph server: hybrid search degrades, graph search says so."""

from __future__ import annotations

import socket

import pytest
from rest_framework.test import APIClient

from tenancy import services
from tenancy.context import as_user
from tests.knowledge.conftest import ingest, upload
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_hybrid_search_answers_from_passages_and_names_the_missing_graph(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    tenant = make_tenant("a")
    text = b"# Password reset\n\nChoose Forgot password on the sign-in page."
    ingest(upload(tenant.workspace, "reset.md", text).document)
    with as_user(tenant.owner.pk):
        key = services.api_key_create(workspace=tenant.workspace, name="search")
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    url = f"/v1/workspaces/{tenant.workspace.pk}/search"

    # FalkorDB is configured, but nothing listens where it should be.
    port = _closed_port()
    settings.ATRIUM_GRAPH_BACKEND = "falkordb"
    settings.ATRIUM_GRAPH_HOST = "127.0.0.1"
    settings.ATRIUM_GRAPH_PORT = port

    response = client.post(url, {"query": "forgot my password"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["degraded"] == ["graph"]
    assert "Forgot password" in body["hits"][0]["content"]

    response = client.post(
        url, {"query": "password", "search_type": "graph"}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "graph_unavailable"
    # Where the graph server lives is not the caller's business.
    assert str(port) not in response.content.decode()


def test_an_absent_graph_degrades_nothing(settings) -> None:  # type: ignore[no-untyped-def]
    tenant = make_tenant("a")
    ingest(
        upload(tenant.workspace, "reset.md", b"# Reset\n\nForgot password.").document
    )
    with as_user(tenant.owner.pk):
        key = services.api_key_create(workspace=tenant.workspace, name="search")
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    settings.ATRIUM_GRAPH_BACKEND = "off"
    response = client.post(
        f"/v1/workspaces/{tenant.workspace.pk}/search",
        {"query": "forgot password"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["degraded"] == []
