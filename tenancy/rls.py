"""Row-level security: the SQL every tenant table's migration applies.

Visibility is derived inside PostgreSQL from the principal of the current
transaction (see ``tenancy.context``) and the membership, key and user rows.
The functions that read those rows are ``SECURITY DEFINER``, owned by a
NOLOGIN role with BYPASSRLS (so a policy on a membership table can consult
membership without recursing), with a pinned ``search_path`` and EXECUTE for
the owner and runtime roles only. Each returns an array that a policy wraps
in a sub-select, so PostgreSQL computes it once per query (an InitPlan) and
can use it as an index condition on ``workspace_id``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations

_CURRENT = "NULLIF(current_setting('app.current_{name}_id', true), '')::uuid"
CURRENT_USER_ID = _CURRENT.format(name="user")
CURRENT_API_KEY_ID = _CURRENT.format(name="api_key")
CURRENT_WORKSPACE_ID = _CURRENT.format(name="workspace")

VISIBLE_WORKSPACES = "((SELECT atrium_visible_workspace_ids())::uuid[])"
VISIBLE_ORGANIZATIONS = "((SELECT atrium_visible_organization_ids())::uuid[])"
MANAGED_ORGANIZATIONS = "((SELECT atrium_managed_organization_ids())::uuid[])"

_ME = f"""
    me AS (
        SELECT u.id, u.is_staff FROM users u
        WHERE u.id = {CURRENT_USER_ID} AND u.is_active
    )"""

FUNCTIONS = {
    "atrium_visible_workspace_ids()": f"""
RETURNS uuid[] LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    WITH {_ME}
    SELECT coalesce(array_agg(DISTINCT v.id), '{{}}'::uuid[]) FROM (
        SELECT k.workspace_id AS id FROM api_keys k
        WHERE k.id = {CURRENT_API_KEY_ID}
          AND k.is_active AND k.revoked_at IS NULL
          AND (k.expires_at IS NULL OR k.expires_at > now())
        UNION ALL
        SELECT w.id FROM workspaces w WHERE w.id = {CURRENT_WORKSPACE_ID}
        UNION ALL
        SELECT m.workspace_id FROM workspace_members m JOIN me ON m.user_id = me.id
        UNION ALL
        SELECT w.id FROM workspaces w
        JOIN organization_members om ON om.organization_id = w.organization_id
        JOIN me ON om.user_id = me.id
        WHERE om.role IN ('owner', 'admin')
        UNION ALL
        SELECT w.id FROM workspaces w JOIN me ON me.is_staff
    ) v
$$""",
    "atrium_visible_organization_ids()": f"""
RETURNS uuid[] LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    WITH {_ME}
    SELECT coalesce(array_agg(DISTINCT v.id), '{{}}'::uuid[]) FROM (
        SELECT om.organization_id AS id FROM organization_members om
        JOIN me ON om.user_id = me.id
        UNION ALL
        SELECT w.organization_id FROM workspaces w
        WHERE w.id = ANY (atrium_visible_workspace_ids())
        UNION ALL
        SELECT o.id FROM organizations o JOIN me ON me.is_staff
    ) v
$$""",
    "atrium_managed_organization_ids()": f"""
RETURNS uuid[] LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    WITH {_ME}
    SELECT coalesce(array_agg(DISTINCT v.id), '{{}}'::uuid[]) FROM (
        SELECT om.organization_id AS id FROM organization_members om
        JOIN me ON om.user_id = me.id
        WHERE om.role IN ('owner', 'admin')
        UNION ALL
        SELECT o.id FROM organizations o JOIN me ON me.is_staff
    ) v
$$""",
    # Lets the creator of a new organization insert its first (owner) member.
    "atrium_organization_has_members(p_organization_id uuid)": """
RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT EXISTS (
        SELECT 1 FROM organization_members WHERE organization_id = p_organization_id
    )
$$""",
    # The one door before a principal exists: find an API key by its public
    # prefix. The caller still verifies the hash in constant time.
    "atrium_api_key_lookup(p_prefix text)": """
RETURNS TABLE (
    id uuid, workspace_id uuid, key_hash text, environment text,
    scopes text[], rate_limit_per_minute integer, is_active boolean,
    expires_at timestamptz, revoked_at timestamptz
) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT k.id, k.workspace_id, k.key_hash, k.environment, k.scopes::text[],
           k.rate_limit_per_minute, k.is_active, k.expires_at, k.revoked_at
    FROM api_keys k WHERE k.prefix = p_prefix
$$""",
    # System jobs that span workspaces list them here, then act on each one
    # inside its own context.
    "atrium_system_workspace_ids()": """
RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT w.id FROM workspaces w
    JOIN organizations o ON o.id = w.organization_id
    WHERE w.deleted_at IS NULL AND o.deleted_at IS NULL
    ORDER BY w.created_at
$$""",
}


# The tables the definer functions read.
DEFINER_READS = (
    "users",
    "organizations",
    "organization_members",
    "workspaces",
    "workspace_members",
    "api_keys",
)


def _function_sql(signature: str, body: str) -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    app = settings.DATABASE_APP_ROLE
    return (
        f"CREATE OR REPLACE FUNCTION {signature} {body};\n"
        f'ALTER FUNCTION {signature} OWNER TO "{definer}";\n'
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;\n"
        f'GRANT EXECUTE ON FUNCTION {signature} TO "{app}";\n'
    )


def definer_functions_sql(bodies: dict[str, str]) -> str:
    """Create or replace each function and hand it to the definer role.

    The new owner needs CREATE on the schema only for the hand-over.
    """
    definer = settings.DATABASE_DEFINER_ROLE
    return (
        f'GRANT CREATE ON SCHEMA public TO "{definer}";\n'
        + "".join(_function_sql(sig, body) for sig, body in bodies.items())
        + f'REVOKE CREATE ON SCHEMA public FROM "{definer}";\n'
    )


def create_functions() -> migrations.RunSQL:
    """Create (or replace) the visibility functions policies are built on."""
    # The functions read the membership tables, and nothing else.
    definer = settings.DATABASE_DEFINER_ROLE
    tables = ", ".join(DEFINER_READS)
    forward = (
        f'GRANT USAGE ON SCHEMA public TO "{definer}";\n'
        f'GRANT SELECT ON {tables} TO "{definer}";\n' + definer_functions_sql(FUNCTIONS)
    )
    # Dropped in reverse order of creation, so nothing depends on a dropped one.
    backward = (
        "".join(
            f"DROP FUNCTION IF EXISTS {sig};\n" for sig in reversed(list(FUNCTIONS))
        )
        + f'REVOKE SELECT ON {tables} FROM "{definer}";\n'
    )

    return migrations.RunSQL(forward, backward)


def replace_function(
    signature: str, body: str, previous_body: str
) -> migrations.RunSQL:
    """Swap one definer function for a new version (its result may change)."""

    def swap(new_body: str) -> str:
        return f"DROP FUNCTION IF EXISTS {signature};\n" + definer_functions_sql(
            {signature: new_body}
        )

    return migrations.RunSQL(swap(body), swap(previous_body))


def _enable(table: str) -> str:
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;\n"
    )


def _disable(table: str, policies: list[str]) -> str:
    drops = "".join(f"DROP POLICY IF EXISTS {p} ON {table};\n" for p in policies)
    return drops + (
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;\n"
    )


def policies(table: str, statements: dict[str, str]) -> migrations.RunSQL:
    """Enable and force RLS on ``table`` with the named policies."""
    forward = _enable(table) + "".join(
        f"CREATE POLICY {name} ON {table} {body};\n"
        for name, body in statements.items()
    )
    return migrations.RunSQL(forward, _disable(table, list(statements)))


def workspace_isolation(table: str, column: str = "workspace_id") -> migrations.RunSQL:
    """The policy of every table whose rows belong to one workspace."""
    check = f"{column} = ANY {VISIBLE_WORKSPACES}"
    return policies(
        table,
        {"workspace_isolation": f"FOR ALL USING ({check}) WITH CHECK ({check})"},
    )
