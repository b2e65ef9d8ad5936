"""Billing state on organizations, and the doors billing's system jobs use.

Stripe webhooks and the nightly reconciliation act for no user: no principal
may read or update an organization there. Instead of a bypass they get four
narrow SECURITY DEFINER doors (docs/tenancy.md, docs/billing.md):

- ``atrium_billing_organization_for_customer(customer)``: the live
  organization whose Stripe customer this is;
- ``atrium_billing_organization_ids()``: live organizations with a Stripe
  customer, for reconciliation;
- ``atrium_billing_organization_lock(id)``: that one row, locked until the
  transaction ends, so concurrent events apply one after the other;
- ``atrium_billing_organization_write(id, values, source)``: sets only the
  billing columns (plan, status, subscription, period, limits, grace, usage
  window) and appends an audit row. The definer role may update no other
  column (column-level grant), so the door cannot rename, move or delete.
"""

from django.conf import settings
from django.db import migrations, models

BILLING_COLUMNS = (
    "plan_tier",
    "subscription_status",
    "stripe_subscription_id",
    "current_period_start",
    "current_period_end",
    "trial_ends_at",
    "max_workspaces",
    "max_documents_per_workspace",
    "max_monthly_requests",
    "max_agents_per_workspace",
    "monthly_requests",
    "usage_period_start",
    "grace_ends_at",
    "grace_limits",
    "updated_at",
)

_ASSIGN = ",\n        ".join(
    f"{c} = r.{c}" for c in BILLING_COLUMNS if c != "updated_at"
)

FUNCTIONS = {
    "atrium_billing_organization_for_customer(p_customer text)": """
RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT o.id FROM organizations o
    WHERE o.stripe_customer_id = p_customer AND p_customer <> ''
      AND o.deleted_at IS NULL
    ORDER BY o.created_at LIMIT 1
$$""",
    "atrium_billing_organization_ids()": """
RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT o.id FROM organizations o
    WHERE o.stripe_customer_id <> '' AND o.deleted_at IS NULL
    ORDER BY o.created_at
$$""",
    "atrium_billing_organization_lock(p_organization_id uuid)": """
RETURNS SETOF organizations LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT o.* FROM organizations o
    WHERE o.id = p_organization_id AND o.deleted_at IS NULL
    FOR UPDATE
$$""",
    "atrium_billing_organization_write("
    "p_organization_id uuid, p_values jsonb, p_source text)": f"""
RETURNS SETOF organizations LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    INSERT INTO audit_log (
        id, organization_id, workspace_id, actor_user_id, actor_api_key_prefix,
        action, target_type, target_id, metadata, ip_address, created_at
    )
    SELECT gen_random_uuid(), o.id, NULL, NULL, '', 'organization.billing_changed',
           'Organization', o.id::text,
           jsonb_build_object('source', p_source, 'values', p_values), NULL, now()
    FROM organizations o
    WHERE o.id = p_organization_id AND o.deleted_at IS NULL;

    UPDATE organizations o SET
        {_ASSIGN},
        updated_at = now()
    FROM (
        SELECT (jsonb_populate_record(x, p_values)).*
        FROM organizations x WHERE x.id = p_organization_id
    ) r
    WHERE o.id = p_organization_id AND o.deleted_at IS NULL
    RETURNING o.*
$$""",
}


def _forward() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    app = settings.DATABASE_APP_ROLE
    columns = ", ".join(BILLING_COLUMNS)
    sql = [
        f'GRANT CREATE ON SCHEMA public TO "{definer}";',
        f'GRANT UPDATE ({columns}) ON organizations TO "{definer}";',
        f'GRANT INSERT ON audit_log TO "{definer}";',
    ]
    for signature, body in FUNCTIONS.items():
        sql += [
            f"CREATE OR REPLACE FUNCTION {signature} {body};",
            f'ALTER FUNCTION {signature} OWNER TO "{definer}";',
            f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC;",
            f'GRANT EXECUTE ON FUNCTION {signature} TO "{app}";',
        ]
    sql.append(f'REVOKE CREATE ON SCHEMA public FROM "{definer}";')
    return "\n".join(sql)


def _backward() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    columns = ", ".join(BILLING_COLUMNS)
    drops = [f"DROP FUNCTION IF EXISTS {sig};" for sig in reversed(list(FUNCTIONS))]
    return "\n".join(
        [
            *drops,
            f'REVOKE UPDATE ({columns}) ON organizations FROM "{definer}";',
            f'REVOKE INSERT ON audit_log FROM "{definer}";',
        ]
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0003_api_key_lookup_last_used"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="custom_limits",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="organization",
            name="grace_ends_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="organization",
            name="grace_limits",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="organization",
            name="usage_period_start",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(_forward(), _backward()),
    ]
