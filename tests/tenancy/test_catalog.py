"""The database's own catalog proves isolation is configured everywhere."""

import re
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
CODE_DIRS = ["config", "accounts", "tenancy", "knowledge", "agents", "billing"]


def rows(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def tenant_tables():
    found = rows(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND column_name = 'workspace_id'"
    )
    return sorted({name for (name,) in found} | {"workspaces"})


def test_the_tenant_tables_are_the_expected_ones():
    # A new tenant table joins the checks below automatically; this list only
    # guards against the discovery query silently finding nothing.
    assert {
        "agents",
        "api_keys",
        "audit_log",
        "chat_sessions",
        "chunks",
        "daily_usage_summary",
        "documents",
        "messages",
        "usage_events",
        "workspace_members",
        "workspaces",
    } <= set(tenant_tables())


def test_every_tenant_table_forces_rls_with_a_checked_policy():
    missing = []
    for table in tenant_tables():
        [(enabled, forced)] = rows(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
            " WHERE oid = %s::regclass",
            [table],
        )
        checked = rows(
            "SELECT policyname FROM pg_policies"
            " WHERE tablename = %s AND with_check IS NOT NULL",
            [table],
        )
        if not (enabled and forced and checked):
            missing.append(table)
    assert missing == []


@pytest.mark.parametrize(
    "table", ["organizations", "organization_members", "audit_log"]
)
def test_organization_tables_are_protected_too(table):
    [(enabled, forced)] = rows(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE oid = %s::regclass",
        [table],
    )
    assert enabled and forced


def test_every_tenant_table_has_an_index_leading_on_the_workspace():
    unindexed = []
    for table in tenant_tables():
        column = "id" if table == "workspaces" else "workspace_id"
        leading = rows(
            "SELECT 1 FROM pg_index i JOIN pg_attribute a"
            " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid = %s::regclass AND a.attname = %s",
            [table, column],
        )
        if not leading:
            unindexed.append(table)
    assert unindexed == []


def test_runtime_role_is_neither_superuser_nor_bypassrls_nor_owner():
    [(role, superuser, bypass, createrole)] = rows(
        "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole FROM pg_roles"
        " WHERE rolname = current_user"
    )
    owned = rows(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace"
        " WHERE n.nspname = 'public' AND c.relowner = (SELECT oid FROM pg_roles"
        " WHERE rolname = current_user)"
    )
    assert role == settings.DATABASE_APP_ROLE
    assert (superuser, bypass, createrole) == (False, False, False)
    assert owned == []


def test_no_view_skips_the_callers_policies():
    views = rows(
        "SELECT c.relname, coalesce(c.reloptions, '{}') FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')"
    )
    unsafe = [name for name, options in views if "security_invoker=true" not in options]
    assert unsafe == []


def test_definer_functions_pin_search_path_and_refuse_public():
    functions = rows(
        "SELECT p.proname, p.proconfig, p.proacl::text FROM pg_proc p"
        " JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.prosecdef"
    )
    assert len(functions) >= 6
    for name, config, acl in functions:
        assert config and any(c.startswith("search_path=") for c in config), name
        # An ACL entry "=X/…" would grant EXECUTE to PUBLIC.
        assert not re.search(r"(^|[{,])=X", acl), name


def test_no_custom_leakproof_functions():
    leaky = rows(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n"
        " ON n.oid = p.pronamespace"
        " WHERE p.proleakproof"
        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    )
    assert leaky == []


def set_config_calls(text: str) -> list[str]:
    """Every ``set_config(...)`` call in ``text``, nested parentheses included."""
    calls = []
    for match in re.finditer(r"set_config\(", text):
        depth, end = 0, match.start()
        for end in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
        calls.append(text[match.start() : end + 1])
    return calls


def test_code_never_sets_a_session_level_context():
    calls = []
    for directory in CODE_DIRS:
        for path in (ROOT / directory).rglob("*.py"):
            text = path.read_text()
            calls += [(path, call) for call in set_config_calls(text)]
            assert not re.search(r"\bSET\s+(SESSION\s+)?app\.", text, re.I), path
    assert calls, "the context helper itself must be found"
    for path, call in calls:
        # The last argument, is_local, must be true: transaction-local only.
        assert re.sub(r"[\s\"']", "", call).endswith(",true)"), f"{path}: {call}"


def test_the_runtime_plans_per_query_and_never_compiles():
    # Custom plans let a search's literal workspace match its partial index;
    # JIT compilation cost a large workspace's search more than the search.
    assert rows("SHOW plan_cache_mode") == [("force_custom_plan",)]
    assert rows("SHOW jit") == [("off",)]


def test_the_runtime_role_keeps_its_planner_settings_without_options():
    # A pooler may drop the connection's options; the role's own settings
    # still apply (scripts/setup_db.py).
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
    ) as bare:
        assert bare.execute("SHOW plan_cache_mode").fetchone() == ("force_custom_plan",)
        assert bare.execute("SHOW jit").fetchone() == ("off",)


def test_visibility_functions_keep_generic_plans_for_their_lookups():
    found = dict(
        rows(
            "SELECT proname, array_to_string(proconfig, ',') FROM pg_proc"
            " WHERE proname IN ('atrium_visible_workspace_ids',"
            " 'atrium_visible_organization_ids', 'atrium_managed_organization_ids')"
        )
    )
    assert len(found) == 3
    assert all("plan_cache_mode=force_generic_plan" in c for c in found.values())


# The narrow doors that re-seal stored secrets (manage.py atrium_secrets_rotate):
# the listing one, the swap one, their table, and the definer's only grants on it.
RESEAL_DOORS = [
    (
        "atrium_webhook_secrets_sealed",
        "atrium_webhook_secret_reseal",
        "webhook_endpoints",
        {"id", "secret_encrypted", "created_at"},
        {"secret_encrypted"},
    ),
    (
        "atrium_provider_credentials_sealed",
        "atrium_provider_credential_reseal",
        "provider_credentials",
        {"id", "api_key_sealed", "created_at"},
        {"api_key_sealed"},
    ),
]


@pytest.mark.parametrize(
    ("listing", "swap", "table", "reads", "writes"),
    RESEAL_DOORS,
    ids=["webhook_secrets", "provider_keys"],
)
def test_reseal_doors_return_ids_and_sealed_values_and_nothing_more(
    listing, swap, table, reads, writes
):
    results = dict(
        rows(
            "SELECT p.proname, pg_get_function_result(p.oid) FROM pg_proc p"
            " WHERE p.proname IN (%s, %s) AND p.prosecdef",
            [listing, swap],
        )
    )
    assert results == {listing: "TABLE(id uuid, sealed text)", swap: "boolean"}

    definer = settings.DATABASE_DEFINER_ROLE
    columns = [
        name
        for (name,) in rows(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s",
            [table],
        )
    ]
    readable, writable = set(), set()
    for column in columns:
        [(can_read, can_write)] = rows(
            "SELECT has_column_privilege(%s, %s, %s, 'SELECT'),"
            " has_column_privilege(%s, %s, %s, 'UPDATE')",
            [definer, table, column] * 2,
        )
        readable |= {column} if can_read else set()
        writable |= {column} if can_write else set()
    assert (readable, writable) == (reads, writes)
    [(inserts, deletes)] = rows(
        "SELECT has_table_privilege(%s, %s, 'INSERT'),"
        " has_table_privilege(%s, %s, 'DELETE')",
        [definer, table] * 2,
    )
    assert (inserts, deletes) == (False, False)
    app = settings.DATABASE_APP_ROLE
    for function in (listing, swap):
        [(app_may, public_may)] = rows(
            "SELECT has_function_privilege(%s, p.oid, 'EXECUTE'),"
            " has_function_privilege('public', p.oid, 'EXECUTE')"
            " FROM pg_proc p WHERE p.proname = %s",
            [app, function],
        )
        assert (app_may, public_may) == (True, False)
