"""The key lookup also returns ``last_used_at``.

Authentication then writes ``last_used_at`` only when it is older than the
recording interval, instead of running a conditional UPDATE on every request.
"""

from django.db import migrations

from tenancy.rls import FUNCTIONS, replace_function

SIGNATURE = "atrium_api_key_lookup(p_prefix text)"

LOOKUP = """
RETURNS TABLE (
    id uuid, workspace_id uuid, key_hash text, environment text,
    scopes text[], rate_limit_per_minute integer, is_active boolean,
    expires_at timestamptz, revoked_at timestamptz, last_used_at timestamptz
) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT k.id, k.workspace_id, k.key_hash, k.environment, k.scopes::text[],
           k.rate_limit_per_minute, k.is_active, k.expires_at, k.revoked_at,
           k.last_used_at
    FROM api_keys k WHERE k.prefix = p_prefix
$$"""


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0002_row_level_security")]

    operations = [replace_function(SIGNATURE, LOOKUP, FUNCTIONS[SIGNATURE])]
