"""Deleting a workspace or organization leaves nothing of it anywhere.

After the purge the database is read as the schema owner with row-level
security lifted (inside a transaction that is rolled back), so no policy can
hide a leftover row; the media directory, the FalkorDB server and Redis are
read directly too. The neighbour's data must be exactly as before.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from agents.models import ChatSession, Message
from billing.services import usage_record
from knowledge import services as knowledge_services
from tenancy import erasure, ratelimit, services, tasks, webhooks
from tenancy.context import as_user, as_workspace
from tenancy.data_models import ErasureReceipt, ExportJob
from tenancy.db import owner_connection
from tenancy.exports import export_request
from tenancy.invitations import invitation_create
from tests.api.conftest import user_api
from tests.knowledge.conftest import ingest
from tests.support.tenants import Tenant, add_agent, add_workspace

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = (
    b"# Atlas\n\nAda Lovelace works at Acme Corp. Acme Corp is based in Paris. "
    b"Grace Hopper founded Initech.\n"
)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"


def populate(tenant: Tenant, workspace: Any = None) -> dict[str, Any]:
    """Give a workspace something in every store: rows, files, graph, Redis."""
    workspace = workspace or tenant.workspace
    with transaction.atomic(), as_workspace(workspace.pk):
        document = knowledge_services.document_create(
            workspace=workspace, file=io.BytesIO(TEXT), filename="atlas.md"
        ).document
    ingest(document)
    agent = add_agent(workspace, "helper")
    with as_user(tenant.owner.pk):
        key = services.api_key_create(workspace=workspace, name="ci")
        webhooks.webhook_endpoint_create(
            workspace=workspace,
            url="http://127.0.0.1:9/hook",
            events=["api_key.revoked"],
        )
        services.api_key_revoke(api_key=key.api_key, reason="rotated")
        export_request(
            workspace=workspace, actor_id=tenant.owner.pk, include_embeddings=False
        )
        invitation_create(
            organization=tenant.organization,
            workspace=workspace,
            email=f"guest-{workspace.pk.hex[:8]}@example.com",
            role="viewer",
            invited_by=tenant.owner,
            site_url="http://testserver",
        )
    with as_workspace(workspace.pk):
        session = ChatSession.objects.create(workspace=workspace, agent=agent)
        Message.objects.create(
            workspace=workspace, session=session, role="user", content="hello"
        )
        usage_record(workspace=workspace, event_type="search", input_tokens=3)
        job = ExportJob.objects.get(workspace=workspace)
    tasks.export_build.apply(args=(str(workspace.pk), str(job.pk)))
    client = ratelimit.client()
    client.set(f"atrium:rl:key:{key.api_key.pk}", 1)
    client.set(f"atrium:rl:workspace:{workspace.pk}", 1)
    client.set(f"atrium:monthly:{tenant.organization.pk}:202612:live", 5)
    return {"document": document, "key": key}


def owner_rows(column: str, value: Any) -> dict[str, int]:
    """Rows per table holding ``value`` in ``column``, seen past every policy."""
    counts = {}
    with owner_connection() as conn, transaction.atomic(using=conn.alias):
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT table_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND column_name = %s",
                [column],
            )
            tables = [row[0] for row in cursor.fetchall()]
            for table in tables:
                # DDL is transactional: the owner sees every row until the
                # rollback below puts FORCE back.
                cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
                cursor.execute(
                    f"SELECT count(*) FROM {table} WHERE {column} = %s", [value]
                )
                counts[table] = cursor.fetchone()[0]
        transaction.set_rollback(True, using=conn.alias)
    return counts


def owner_count(table: str, column: str, value: Any) -> int:
    with owner_connection() as conn, transaction.atomic(using=conn.alias):
        with conn.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            cursor.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", [value])
            count = int(cursor.fetchone()[0])
        transaction.set_rollback(True, using=conn.alias)
    return count


def graph_names() -> list[str]:
    client = redis.Redis(
        host=settings.ATRIUM_GRAPH_HOST, port=settings.ATRIUM_GRAPH_PORT
    )
    return [name.decode() for name in client.execute_command("GRAPH.LIST")]


def redis_keys_naming(*values: Any) -> list[str]:
    needles = {form for v in values for form in (str(v), v.hex)}
    return [
        key.decode()
        for key in ratelimit.client().scan_iter(count=1000)
        if any(n in key.decode() for n in needles)
    ]


def buffered_usage_of(workspace_id: Any) -> int:
    key = f"atrium:usage:buffer:{connection.settings_dict['NAME']}"
    return sum(
        str(workspace_id) in raw.decode()
        for raw in ratelimit.client().lrange(key, 0, -1)
    )


def purge(receipt_id: Any, requested_by: Any) -> ErasureReceipt:
    tasks.erasure_purge.apply(args=(str(receipt_id), str(requested_by)))
    with as_user(requested_by):
        return ErasureReceipt.objects.get(pk=receipt_id)


def test_deleting_a_workspace_leaves_nothing_of_it(graph_on, tenant_a, tenant_b):
    populate(tenant_a)
    populate(tenant_b)
    a, b = tenant_a.workspace, tenant_b.workspace
    before_b = owner_rows("workspace_id", b.pk)
    media = Path(settings.MEDIA_ROOT)
    assert (media / "documents" / str(a.pk)).is_dir()
    assert (media / "exports" / str(a.pk)).is_dir()
    assert a.graph_group_id in graph_names()
    assert redis_keys_naming(a.pk) and buffered_usage_of(a.pk) >= 1
    assert sum(owner_rows("workspace_id", a.pk).values()) > 10

    response = user_api(tenant_a.owner).delete(f"/v1/workspaces/{a.pk}")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    receipt = purge(response.json()["id"], tenant_a.owner.pk)

    leftovers = {t: n for t, n in owner_rows("workspace_id", a.pk).items() if n}
    assert leftovers == {}
    assert owner_count("workspaces", "id", a.pk) == 0
    assert not (media / "documents" / str(a.pk)).exists() or not any(
        (media / "documents" / str(a.pk)).iterdir()
    )
    assert not any((media / "exports" / str(a.pk)).glob("*"))
    assert a.graph_group_id not in graph_names(), (receipt.removed, receipt.errors)
    assert redis_keys_naming(a.pk) == [] and buffered_usage_of(a.pk) == 0

    # The neighbour keeps everything.
    assert owner_rows("workspace_id", b.pk) == before_b
    assert b.graph_group_id in graph_names()
    assert any((media / "documents" / str(b.pk)).iterdir())
    assert redis_keys_naming(b.pk) and buffered_usage_of(b.pk) >= 1

    # The receipt says what went, and stays readable.
    assert receipt.status == "completed", receipt.errors
    removed = receipt.removed
    assert removed["tables"]["documents"] == 1 and removed["tables"]["chunks"] >= 1
    assert removed["tables"]["workspaces"] == 1
    assert removed["tables"]["webhook_endpoints"] == 1
    assert removed["tables"]["invitations"] == 1
    assert removed["tables"]["audit_log"] >= 4
    assert removed["document_files"]["removed"] == 1
    assert removed["export_files"]["removed"] == 1
    assert removed["graph"]["graph_dropped"] is True and removed["graph"]["nodes"] > 0
    assert removed["usage_buffer"]["removed"] >= 1
    assert removed["cache"]["keys"] >= 2
    fetched = user_api(tenant_a.owner).get(f"/v1/erasure-receipts/{receipt.pk}")
    assert fetched.status_code == 200 and fetched.json()["status"] == "completed"


def test_deleting_an_organization_removes_it_and_every_workspace(tenant_a, tenant_b):
    second = add_workspace(tenant_a, "Second")
    populate(tenant_a)
    populate(tenant_a, second)
    populate(tenant_b)
    org = tenant_a.organization
    before_b = owner_rows("workspace_id", tenant_b.workspace.pk)

    response = user_api(tenant_a.owner).delete(f"/v1/organizations/{org.pk}")
    assert response.status_code == 202
    receipt = purge(response.json()["id"], tenant_a.owner.pk)

    assert receipt.status == "completed", receipt.errors
    for workspace in (tenant_a.workspace, second):
        assert not any(owner_rows("workspace_id", workspace.pk).values())
    assert owner_count("organizations", "id", org.pk) == 0
    assert not any(owner_rows("organization_id", org.pk).pop(t, 0) for t in (
        "organization_members", "usage_events", "daily_usage_summary", "usage_alerts"
    ))  # fmt: skip
    with owner_connection() as conn, transaction.atomic(using=conn.alias):
        with conn.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY")
            cursor.execute(
                "SELECT DISTINCT action FROM audit_log WHERE organization_id = %s",
                [org.pk],
            )
            actions = {row[0] for row in cursor.fetchall()}
        transaction.set_rollback(True, using=conn.alias)
    assert actions == {"organization.erasure_requested"}
    assert redis_keys_naming(org.pk, tenant_a.workspace.pk, second.pk) == []
    assert receipt.removed["tables"]["workspaces"] == 2
    assert receipt.removed["tables"]["organizations"] == 1
    assert owner_rows("workspace_id", tenant_b.workspace.pk) == before_b


def test_a_purge_run_twice_changes_nothing_more(tenant_a):
    populate(tenant_a)
    with as_user(tenant_a.owner.pk):
        receipt = erasure.workspace_erasure_request(
            workspace=tenant_a.workspace, actor=tenant_a.owner
        )
    first = purge(receipt.pk, tenant_a.owner.pk)
    second = purge(receipt.pk, tenant_a.owner.pk)
    assert first.removed == second.removed and second.status == "completed"


def test_receipts_are_not_shown_to_others(tenant_a, tenant_b):
    with as_user(tenant_a.owner.pk):
        receipt = erasure.workspace_erasure_request(
            workspace=tenant_a.workspace, actor=tenant_a.owner
        )
    outsider = user_api(tenant_b.owner)
    assert outsider.get(f"/v1/erasure-receipts/{receipt.pk}").status_code == 404
    assert outsider.get("/v1/erasure-receipts").json()["results"] == []
    mine = user_api(tenant_a.owner).get("/v1/erasure-receipts").json()["results"]
    assert [r["id"] for r in mine] == [str(receipt.pk)]


def test_only_a_deleted_workspace_can_lose_its_audit_log(tenant_a):
    with as_workspace(tenant_a.workspace.pk):
        with (
            pytest.raises(Exception, match="not deleted"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(
                "SELECT atrium_audit_erase(%s, NULL)", [tenant_a.workspace.pk]
            )
    assert owner_rows("workspace_id", tenant_a.workspace.pk)["audit_log"] >= 1


def test_a_purge_that_cannot_run_fails_visibly_and_removes_nothing(tenant_a):
    populate(tenant_a)
    before = owner_rows("workspace_id", tenant_a.workspace.pk)
    # A receipt for a workspace nobody deleted: the audit door refuses it.
    with as_user(tenant_a.owner.pk):
        receipt = ErasureReceipt.objects.create(
            subject_type="workspace",
            subject_id=tenant_a.workspace.pk,
            organization_id=tenant_a.organization.pk,
            requested_by_id=tenant_a.owner.pk,
        )

    failed = purge(receipt.pk, tenant_a.owner.pk)

    assert failed.status == "failed"
    assert [e["step"] for e in failed.errors] == ["rows"]
    assert owner_rows("workspace_id", tenant_a.workspace.pk) == before
