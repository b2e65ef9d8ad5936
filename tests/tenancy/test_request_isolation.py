"""Requests on one persistent connection never see another tenant's rows.

These tests commit for real (transactional database), so each request's
transaction ends as in production and the next one starts from a clean
context on the same database session.
"""

import pytest
from django.db import connection
from django.test import Client

from tenancy import services
from tenancy.context import as_user
from tenancy.models import Workspace
from tests.support.tenants import add_agent, add_document

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.support.probes"),
]


@pytest.fixture
def clients(tenant_a, tenant_b):
    for tenant in (tenant_a, tenant_b):
        add_document(tenant.workspace, "Doc", "canary")
        add_agent(tenant.workspace, "helper")
    with as_user(tenant_a.owner.pk):
        key = services.api_key_create(workspace=tenant_a.workspace, name="k")

    key_client = Client(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    user_client = Client()
    user_client.force_login(tenant_b.owner)
    return {
        "a": (key_client, str(tenant_a.workspace.pk)),
        "b": (user_client, str(tenant_b.workspace.pk)),
        "anonymous": (Client(), None),
    }


def test_a_thousand_alternating_requests_see_only_their_own_rows(clients):
    order = ["a", "b", "anonymous"]
    backends = set()
    for i in range(1000):
        client, workspace = clients[order[i % 3]]
        seen = client.get("/probe/visible").json()
        expected = [workspace] if workspace else []
        assert seen == {
            "documents": expected,
            "chunks": expected,
            "agents": expected,
            "api_keys": [clients["a"][1]] if order[i % 3] == "a" else [],
            "workspaces": expected,
        }, (i, order[i % 3])
        backends.add(connection.connection.info.backend_pid)
    # One database session served every request.
    assert len(backends) == 1


def test_after_a_request_the_session_reads_empty_not_an_error(clients):
    client, _workspace = clients["a"]
    assert client.get("/probe/visible").json()["documents"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM documents")
        assert cursor.fetchone()[0] == 0


def test_a_bad_key_sees_nothing(clients):
    forged = Client(HTTP_AUTHORIZATION="Bearer atr_live_" + "x" * 38)
    assert forged.get("/probe/visible").json()["documents"] == []


def test_a_failing_request_keeps_none_of_its_writes(clients, tenant_a):
    client, _workspace = clients["a"]
    client.raise_request_exception = False
    assert client.get("/probe/write-then-fail").status_code == 500
    with as_user(tenant_a.owner.pk):
        assert not Workspace.objects.filter(
            description="changed by a failed request"
        ).exists()


def test_a_streaming_body_reads_with_its_own_context_and_only_then(clients):
    client, workspace = clients["a"]
    body = b"".join(client.get("/probe/stream").streaming_content).decode()
    assert body == f"with-context:{workspace}\nafter:\n"
