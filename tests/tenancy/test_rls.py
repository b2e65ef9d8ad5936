"""Row-level security by raw SQL: what each principal can see and change."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from tenancy import services
from tenancy.context import Principal, as_anonymous, as_principal, as_user, as_workspace
from tenancy.models import OrganizationRole, WorkspaceRole
from tests.support.tenants import add_agent, add_document, add_workspace, make_user

pytestmark = pytest.mark.django_db

TENANT_TABLES = (
    "documents",
    "chunks",
    "agents",
    "api_keys",
    "workspace_members",
    "audit_log",
)


def workspace_ids_in(table):
    # Organization-wide audit rows have no workspace; they are checked apart.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT workspace_id FROM {table} WHERE workspace_id IS NOT NULL"
        )
        return {row[0] for row in cursor.fetchall()}


def count(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


@pytest.fixture
def stocked(tenant_a, tenant_b):
    """Two organizations; A has a second workspace; every table has rows."""
    a2 = add_workspace(tenant_a, "Second")
    for workspace in (tenant_a.workspace, a2, tenant_b.workspace):
        add_document(workspace, "Doc", f"canary text of {workspace.pk}")
        add_agent(workspace, "helper")
    for tenant in (tenant_a, tenant_b):
        member = make_user("member")
        with as_user(tenant.owner.pk):
            services.api_key_create(workspace=tenant.workspace, name="key")
            services.organization_member_add(
                organization=tenant.organization, user=member
            )
            services.workspace_member_add(workspace=tenant.workspace, user=member)
    return tenant_a, a2, tenant_b


def test_no_context_sees_zero_rows_not_an_error(stocked):
    for table in (*TENANT_TABLES, "workspaces", "organizations"):
        assert count(f"SELECT count(*) FROM {table}") == 0, table


def test_a_cleared_context_reads_as_empty_not_as_an_error(stocked):
    tenant_a, _a2, _b = stocked
    with as_user(tenant_a.owner.pk):
        assert count("SELECT count(*) FROM documents") == 2
    # The settings now hold '' rather than NULL; policies must treat it as none.
    with as_anonymous():
        assert count("SELECT count(*) FROM documents") == 0


def test_owner_sees_exactly_their_organizations_workspaces(stocked):
    tenant_a, a2, _b = stocked
    both = {tenant_a.workspace.pk, a2.pk}
    # Keys and members were only made in the first workspace.
    expected = {
        "api_keys": {tenant_a.workspace.pk},
        "workspace_members": {tenant_a.workspace.pk},
    }
    with as_user(tenant_a.owner.pk):
        for table in TENANT_TABLES:
            assert workspace_ids_in(table) == expected.get(table, both), table
        assert count("SELECT count(*) FROM organizations") == 1


def test_workspace_member_sees_only_the_workspace_granted(stocked):
    tenant_a, a2, _b = stocked
    member = make_user("member")
    with as_user(tenant_a.owner.pk):
        services.organization_member_add(
            organization=tenant_a.organization, user=member
        )
        services.workspace_member_add(
            workspace=a2, user=member, role=WorkspaceRole.VIEWER
        )
    with as_user(member.pk):
        assert workspace_ids_in("documents") == {a2.pk}
        assert count("SELECT count(*) FROM workspaces") == 1


def test_organization_member_without_grants_sees_no_workspace(stocked):
    tenant_a, _a2, _b = stocked
    member = make_user("member")
    with as_user(tenant_a.owner.pk):
        services.organization_member_add(
            organization=tenant_a.organization, user=member
        )
    with as_user(member.pk):
        assert count("SELECT count(*) FROM documents") == 0
        assert count("SELECT count(*) FROM organizations") == 1


def test_organization_admin_reaches_every_workspace_of_the_organization(stocked):
    tenant_a, a2, _b = stocked
    admin = make_user("admin")
    with as_user(tenant_a.owner.pk):
        services.organization_member_add(
            organization=tenant_a.organization, user=admin, role=OrganizationRole.ADMIN
        )
    with as_user(admin.pk):
        assert workspace_ids_in("documents") == {tenant_a.workspace.pk, a2.pk}


def test_reading_another_workspace_by_id_returns_nothing(stocked):
    tenant_a, _a2, tenant_b = stocked
    with as_user(tenant_a.owner.pk):
        sql = "SELECT count(*) FROM documents WHERE workspace_id = %s"
        assert count(sql, [tenant_b.workspace.pk]) == 0


def test_writing_into_another_workspace_is_refused(stocked):
    tenant_a, _a2, tenant_b = stocked
    with pytest.raises(DatabaseError, match="row-level security"):
        with as_user(tenant_a.owner.pk), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO agents (id, workspace_id, name, slug, description,"
                " system_prompt, model_provider, model_name, temperature,"
                " enabled_tools, tool_config, settings, is_active, created_at,"
                " updated_at) VALUES (gen_random_uuid(), %s, 'x', 'x', '', 'x',"
                " 'extractive', 'x', 0, '[]', '{}', '{}', true, now(), now())",
                [tenant_b.workspace.pk],
            )


def test_updating_or_deleting_another_workspaces_rows_touches_nothing(stocked):
    tenant_a, _a2, tenant_b = stocked
    with as_user(tenant_a.owner.pk), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE documents SET title = 'stolen' WHERE workspace_id = %s",
            [tenant_b.workspace.pk],
        )
        assert cursor.rowcount == 0
        cursor.execute(
            "DELETE FROM chunks WHERE workspace_id = %s", [tenant_b.workspace.pk]
        )
        assert cursor.rowcount == 0
    with as_workspace(tenant_b.workspace.pk):
        assert count("SELECT count(*) FROM chunks") == 1
        assert count("SELECT count(*) FROM documents WHERE title = 'stolen'") == 0


def test_moving_a_row_into_another_workspace_is_refused(stocked):
    tenant_a, _a2, tenant_b = stocked
    with pytest.raises(DatabaseError, match="row-level security"):
        with as_user(tenant_a.owner.pk), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE documents SET workspace_id = %s", [tenant_b.workspace.pk]
            )


def test_api_key_sees_its_own_workspace_while_it_is_valid(stocked):
    tenant_a, _a2, _b = stocked
    with as_user(tenant_a.owner.pk):
        created = services.api_key_create(workspace=tenant_a.workspace, name="k")
    principal = Principal(api_key_id=created.api_key.pk)

    with as_principal(principal):
        assert workspace_ids_in("documents") == {tenant_a.workspace.pk}

    with as_user(tenant_a.owner.pk):
        services.api_key_revoke(api_key=created.api_key)
    with as_principal(principal):
        assert count("SELECT count(*) FROM documents") == 0


def test_expired_api_key_sees_nothing(stocked):
    tenant_a, _a2, _b = stocked
    with as_user(tenant_a.owner.pk):
        created = services.api_key_create(
            workspace=tenant_a.workspace,
            name="k",
            expires_at=timezone.now() - timedelta(seconds=1),
        )
    with as_principal(Principal(api_key_id=created.api_key.pk)):
        assert count("SELECT count(*) FROM documents") == 0


def test_system_work_sees_one_workspace(stocked):
    _a, a2, _b = stocked
    with as_workspace(a2.pk):
        for table in TENANT_TABLES:
            assert workspace_ids_in(table) <= {a2.pk}, table
        assert workspace_ids_in("documents") == {a2.pk}


def test_staff_see_every_tenant_and_lose_it_when_deactivated(stocked):
    tenant_a, a2, tenant_b = stocked
    staff = make_user("staff", is_staff=True)
    everyone = {tenant_a.workspace.pk, a2.pk, tenant_b.workspace.pk}
    with as_user(staff.pk):
        assert workspace_ids_in("documents") == everyone

    staff.is_active = False
    staff.save(update_fields=["is_active"])
    with as_user(staff.pk):
        assert count("SELECT count(*) FROM documents") == 0


def test_outsider_cannot_change_or_join_another_organization(stocked):
    tenant_a, _a2, tenant_b = stocked
    with as_user(tenant_b.owner.pk), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE organizations SET name = 'taken' WHERE id = %s",
            [tenant_a.organization.pk],
        )
        assert cursor.rowcount == 0
    with pytest.raises(DatabaseError, match="row-level security"):
        with as_user(tenant_b.owner.pk), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO organization_members (id, organization_id, user_id,"
                " role, created_at) VALUES (gen_random_uuid(), %s, %s, 'owner',"
                " now())",
                [tenant_a.organization.pk, tenant_b.owner.pk],
            )


def test_organization_wide_audit_rows_stay_in_their_organization(stocked):
    tenant_a, _a2, tenant_b = stocked
    with as_user(tenant_a.owner.pk):
        organizations = count(
            "SELECT count(DISTINCT organization_id) FROM audit_log"
            " WHERE workspace_id IS NULL"
        )
        foreign = count(
            "SELECT count(*) FROM audit_log WHERE organization_id = %s",
            [tenant_b.organization.pk],
        )
    assert (organizations, foreign) == (1, 0)


def test_audit_log_is_append_only(stocked):
    tenant_a, _a2, _b = stocked
    with as_user(tenant_a.owner.pk):
        assert count("SELECT count(*) FROM audit_log") > 0
    with pytest.raises(DatabaseError, match="permission denied"):
        with as_user(tenant_a.owner.pk), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_log")
