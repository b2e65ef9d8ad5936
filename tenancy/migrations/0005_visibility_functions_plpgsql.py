"""Visibility functions in PL/pgSQL, answering for the one principal set.

The SQL versions unioned every kind of principal and, being SECURITY
DEFINER, were planned afresh on every call; measured, that cost a search in
a tiny workspace most of its time (bench/test_search.py). These versions
return as soon as they know the principal (system work, then an API key,
then a user) and PL/pgSQL keeps their plans for the session.
"""

from django.db import migrations

from tenancy.rls import FUNCTIONS, definer_functions_sql

PRINCIPALS = """
DECLARE
    v_workspace uuid := NULLIF(current_setting('app.current_workspace_id', true), '')::uuid;
    v_key uuid := NULLIF(current_setting('app.current_api_key_id', true), '')::uuid;
    v_user uuid := NULLIF(current_setting('app.current_user_id', true), '')::uuid;
    v_staff boolean;
BEGIN
"""

WORKSPACES = f"""
RETURNS uuid[] LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
{PRINCIPALS}
    IF v_workspace IS NOT NULL THEN
        RETURN ARRAY(SELECT w.id FROM workspaces w WHERE w.id = v_workspace);
    END IF;
    IF v_key IS NOT NULL THEN
        RETURN ARRAY(
            SELECT k.workspace_id FROM api_keys k
            WHERE k.id = v_key AND k.is_active AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > now())
        );
    END IF;
    SELECT u.is_staff INTO v_staff FROM users u WHERE u.id = v_user AND u.is_active;
    IF NOT FOUND THEN
        RETURN '{{}}'::uuid[];
    END IF;
    IF v_staff THEN
        RETURN ARRAY(SELECT w.id FROM workspaces w);
    END IF;
    RETURN ARRAY(
        SELECT m.workspace_id FROM workspace_members m WHERE m.user_id = v_user
        UNION
        SELECT w.id FROM workspaces w
        JOIN organization_members om ON om.organization_id = w.organization_id
        WHERE om.user_id = v_user AND om.role IN ('owner', 'admin')
    );
END
$$"""

ORGANIZATIONS = f"""
RETURNS uuid[] LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
{PRINCIPALS}
    IF v_workspace IS NOT NULL OR v_key IS NOT NULL THEN
        RETURN ARRAY(
            SELECT w.organization_id FROM workspaces w
            WHERE w.id = ANY (atrium_visible_workspace_ids())
        );
    END IF;
    SELECT u.is_staff INTO v_staff FROM users u WHERE u.id = v_user AND u.is_active;
    IF NOT FOUND THEN
        RETURN '{{}}'::uuid[];
    END IF;
    IF v_staff THEN
        RETURN ARRAY(SELECT o.id FROM organizations o);
    END IF;
    RETURN ARRAY(
        SELECT om.organization_id FROM organization_members om
        WHERE om.user_id = v_user
        UNION
        SELECT w.organization_id FROM workspaces w
        JOIN workspace_members m ON m.workspace_id = w.id
        WHERE m.user_id = v_user
    );
END
$$"""

MANAGED = f"""
RETURNS uuid[] LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
{PRINCIPALS}
    IF v_user IS NULL OR v_workspace IS NOT NULL OR v_key IS NOT NULL THEN
        RETURN '{{}}'::uuid[];
    END IF;
    SELECT u.is_staff INTO v_staff FROM users u WHERE u.id = v_user AND u.is_active;
    IF NOT FOUND THEN
        RETURN '{{}}'::uuid[];
    END IF;
    IF v_staff THEN
        RETURN ARRAY(SELECT o.id FROM organizations o);
    END IF;
    RETURN ARRAY(
        SELECT om.organization_id FROM organization_members om
        WHERE om.user_id = v_user AND om.role IN ('owner', 'admin')
    );
END
$$"""

NEW = {
    "atrium_visible_workspace_ids()": WORKSPACES,
    "atrium_visible_organization_ids()": ORGANIZATIONS,
    "atrium_managed_organization_ids()": MANAGED,
}


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0004_organization_billing")]

    operations = [
        # CREATE OR REPLACE keeps the functions the policies depend on.
        migrations.RunSQL(
            definer_functions_sql(NEW),
            definer_functions_sql({name: FUNCTIONS[name] for name in NEW}),
        )
    ]
