"""Organizations' own provider keys: the table, its isolation, two doors.

Rows are read by anyone who sees the organization (an agent's chat by API
key must use them) and written only by its owners and admins. Re-sealing
every key with a new encryption key is system work across organizations,
so it gets two narrow SECURITY DEFINER doors rather than a bypass:

- ``atrium_provider_credentials_sealed()``: every row's id and sealed key;
- ``atrium_provider_credential_reseal(id, old, new)``: swaps the sealed key
  of one row only if it still holds ``old`` (a key replaced meanwhile is
  left alone). The definer may update no other column.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tenancy.rls import (
    MANAGED_ORGANIZATIONS,
    VISIBLE_ORGANIZATIONS,
    definer_functions_sql,
    policies,
)

READ = f"organization_id = ANY {VISIBLE_ORGANIZATIONS}"
WRITE = f"organization_id = ANY {MANAGED_ORGANIZATIONS}"

DOORS = {
    "atrium_provider_credentials_sealed()": """
RETURNS TABLE (id uuid, sealed text) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT c.id, c.api_key_sealed FROM provider_credentials c
    WHERE c.api_key_sealed <> '' ORDER BY c.created_at
$$""",
    "atrium_provider_credential_reseal(p_id uuid, p_old text, p_new text)": """
RETURNS boolean LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    WITH done AS (
        UPDATE provider_credentials SET api_key_sealed = p_new
        WHERE id = p_id AND api_key_sealed = p_old AND p_new <> ''
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM done)
$$""",
}


def doors_sql() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    table = "provider_credentials"
    return (
        f'GRANT SELECT (id, api_key_sealed, created_at) ON {table} TO "{definer}";\n'
        f'GRANT UPDATE (api_key_sealed) ON {table} TO "{definer}";\n'
        + definer_functions_sql(DOORS)
    )


def doors_drop_sql() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    return "".join(f"DROP FUNCTION IF EXISTS {sig};\n" for sig in DOORS) + (
        f'REVOKE ALL ON provider_credentials FROM "{definer}";\n'
    )


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0004_evaluation_sets"),
        ("tenancy", "0005_visibility_functions_plpgsql"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProviderCredential",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "provider",
                    models.CharField(
                        choices=[
                            ("openai", "OpenAI"),
                            ("anthropic", "Anthropic"),
                            ("openai_compatible", "OpenAI-compatible server"),
                        ],
                        max_length=32,
                    ),
                ),
                ("api_key_sealed", models.TextField(blank=True)),
                ("api_key_hint", models.CharField(blank=True, max_length=8)),
                ("base_url", models.URLField(blank=True, max_length=500)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="provider_credentials",
                        to="tenancy.organization",
                    ),
                ),
            ],
            options={
                "db_table": "provider_credentials",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization", "provider"),
                        name="provider_credentials_org_unique",
                    )
                ],
            },
        ),
        policies(
            "provider_credentials",
            {
                "credential_read": f"FOR SELECT USING ({READ})",
                "credential_insert": f"FOR INSERT WITH CHECK ({WRITE})",
                "credential_update": f"FOR UPDATE USING ({WRITE}) WITH CHECK ({WRITE})",
                "credential_delete": f"FOR DELETE USING ({WRITE})",
            },
        ),
        migrations.RunSQL(doors_sql(), doors_drop_sql()),
    ]
