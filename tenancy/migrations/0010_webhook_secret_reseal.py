"""Two narrow doors to re-seal webhook signing secrets with a new key.

Re-sealing every endpoint's secret after a new encryption key is put first
(``manage.py atrium_secrets_rotate``) is system work across organizations,
so, like the provider keys' doors of agents migration 0005, it gets two
SECURITY DEFINER functions rather than a bypass:

- ``atrium_webhook_secrets_sealed()``: every endpoint's id and sealed
  secret, and nothing else of it;
- ``atrium_webhook_secret_reseal(id, old, new)``: swaps the sealed secret of
  one endpoint only if it still holds ``old`` (a secret an admin rotated
  meanwhile is left alone). The definer may update no other column, so the
  endpoint's ``secret_rotated_at`` keeps meaning "the customer's secret
  changed".
"""

from django.conf import settings
from django.db import migrations

from tenancy.rls import definer_functions_sql

TABLE = "webhook_endpoints"
READS = "id, secret_encrypted, created_at"
WRITES = "secret_encrypted"

DOORS = {
    "atrium_webhook_secrets_sealed()": """
RETURNS TABLE (id uuid, sealed text) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT e.id, e.secret_encrypted FROM webhook_endpoints e
    WHERE e.secret_encrypted <> '' ORDER BY e.created_at, e.id
$$""",
    "atrium_webhook_secret_reseal(p_id uuid, p_old text, p_new text)": """
RETURNS boolean LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    WITH done AS (
        UPDATE webhook_endpoints SET secret_encrypted = p_new
        WHERE id = p_id AND secret_encrypted = p_old AND p_new <> ''
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM done)
$$""",
}


def doors_sql() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    return (
        f'GRANT SELECT ({READS}) ON {TABLE} TO "{definer}";\n'
        f'GRANT UPDATE ({WRITES}) ON {TABLE} TO "{definer}";\n'
        + definer_functions_sql(DOORS)
    )


def doors_drop_sql() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    return "".join(f"DROP FUNCTION IF EXISTS {sig};\n" for sig in DOORS) + (
        f'REVOKE UPDATE ({WRITES}) ON {TABLE} FROM "{definer}";\n'
        f'REVOKE SELECT ({READS}) ON {TABLE} FROM "{definer}";\n'
    )


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0009_visibility_functions_generic_plans")]

    operations = [migrations.RunSQL(doors_sql(), doors_drop_sql())]
