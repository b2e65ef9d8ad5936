# Webhooks, exports and erasure receipts, with their row-level security and
# the two narrow doors erasure and organization-wide events need.

import uuid

import django.contrib.postgres.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import tenancy.models
from tenancy.rls import (
    CURRENT_USER_ID,
    MANAGED_ORGANIZATIONS,
    definer_functions_sql,
    policies,
    workspace_isolation,
)

RECEIPT_REACH = (
    f"requested_by_id = {CURRENT_USER_ID}"
    f" OR organization_id = ANY {MANAGED_ORGANIZATIONS}"
)

FUNCTIONS = {
    # Erasure removes the audit records of a purged workspace (or of a purged
    # organization itself), keeping the records of the erasure requests. Only
    # for a workspace or organization already deleted, and only one the
    # caller reaches: the workspace as system work, the organization as one
    # of its managers.
    "atrium_audit_erase(p_workspace uuid, p_organization uuid)": """
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_count integer;
BEGIN
    IF p_workspace IS NOT NULL THEN
        IF NOT EXISTS (
            SELECT 1 FROM workspaces w JOIN organizations o ON o.id = w.organization_id
            WHERE w.id = p_workspace
              AND (w.deleted_at IS NOT NULL OR o.deleted_at IS NOT NULL)
              AND w.id = ANY (atrium_visible_workspace_ids())
        ) THEN
            RAISE EXCEPTION 'workspace % is not deleted or not reachable', p_workspace;
        END IF;
        DELETE FROM audit_log WHERE workspace_id = p_workspace;
    ELSE
        IF NOT EXISTS (
            SELECT 1 FROM organizations o
            WHERE o.id = p_organization AND o.deleted_at IS NOT NULL
              AND o.id = ANY (atrium_managed_organization_ids())
        ) THEN
            RAISE EXCEPTION 'organization % is not deleted or not managed',
                p_organization;
        END IF;
        DELETE FROM audit_log
        WHERE organization_id = p_organization AND workspace_id IS NULL
          AND action NOT LIKE '%.erasure_requested';
    END IF;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$""",
    # An organization-wide event (monthly requests past a threshold) goes to
    # every live workspace of the organization; system work inside one of
    # them may list its siblings, and nothing else.
    "atrium_organization_workspace_ids(p_organization uuid)": """
RETURNS SETOF uuid LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT w.id FROM workspaces w
    WHERE w.organization_id = p_organization AND w.deleted_at IS NULL
      AND EXISTS (
          SELECT 1 FROM workspaces mine
          WHERE mine.organization_id = p_organization
            AND mine.id = ANY (atrium_visible_workspace_ids())
      )
    ORDER BY w.created_at
$$""",
}


def _definer_sql() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    return (
        f'GRANT SELECT, DELETE ON audit_log TO "{definer}";\n'
        + definer_functions_sql(FUNCTIONS)
    )


def _definer_reverse() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    drops = "".join(f"DROP FUNCTION IF EXISTS {sig};\n" for sig in FUNCTIONS)
    return drops + f'REVOKE SELECT, DELETE ON audit_log FROM "{definer}";\n'


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0006_invitations"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(
                    choices=[
                        ("chat", "Chat"),
                        ("search", "Search"),
                        ("documents:read", "Read documents"),
                        ("documents:write", "Write documents"),
                        ("agents:read", "Read agents"),
                        ("agents:write", "Write agents"),
                        ("webhooks", "Manage webhooks"),
                    ],
                    max_length=32,
                ),
                blank=True,
                default=tenancy.models.default_api_key_scopes,
                size=None,
            ),
        ),
        migrations.CreateModel(
            name="ErasureReceipt",
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
                    "subject_type",
                    models.CharField(
                        choices=[
                            ("workspace", "Workspace"),
                            ("organization", "Organization"),
                        ],
                        max_length=16,
                    ),
                ),
                ("subject_id", models.UUIDField()),
                ("organization_id", models.UUIDField()),
                ("requested_by_id", models.UUIDField()),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("completed", "Completed"),
                            ("partial", "Completed with errors"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("removed", models.JSONField(blank=True, default=dict)),
                ("errors", models.JSONField(blank=True, default=list)),
                ("requested_at", models.DateTimeField(auto_now_add=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "db_table": "erasure_receipts",
                "indexes": [
                    models.Index(
                        fields=["organization_id", "-requested_at"],
                        name="erasure_receipts_org_idx",
                    ),
                    models.Index(
                        fields=["requested_by_id", "-requested_at"],
                        name="erasure_receipts_user_idx",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="WebhookEndpoint",
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
                ("url", models.URLField(max_length=2000)),
                ("description", models.CharField(blank=True, max_length=500)),
                (
                    "events",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.CharField(
                            choices=[
                                ("document.ready", "Document ready"),
                                ("document.failed", "Document failed"),
                                ("usage.threshold", "Usage past a threshold"),
                                ("api_key.revoked", "API key revoked"),
                            ],
                            max_length=32,
                        ),
                        size=None,
                    ),
                ),
                ("is_active", models.BooleanField(default=True)),
                ("secret_encrypted", models.TextField()),
                ("disabled_reason", models.CharField(blank=True, max_length=200)),
                ("created_by_id", models.UUIDField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("secret_rotated_at", models.DateTimeField(blank=True, null=True)),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_endpoints",
                        to="tenancy.workspace",
                    ),
                ),
            ],
            options={
                "db_table": "webhook_endpoints",
            },
        ),
        migrations.CreateModel(
            name="WebhookEvent",
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
                    "type",
                    models.CharField(
                        choices=[
                            ("document.ready", "Document ready"),
                            ("document.failed", "Document failed"),
                            ("usage.threshold", "Usage past a threshold"),
                            ("api_key.revoked", "API key revoked"),
                        ],
                        max_length=32,
                    ),
                ),
                ("data", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_events",
                        to="tenancy.workspace",
                    ),
                ),
            ],
            options={
                "db_table": "webhook_events",
            },
        ),
        migrations.CreateModel(
            name="WebhookDelivery",
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
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                (
                    "last_status_code",
                    models.PositiveSmallIntegerField(blank=True, null=True),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "replay_of",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="tenancy.webhookdelivery",
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_deliveries",
                        to="tenancy.workspace",
                    ),
                ),
                (
                    "endpoint",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="tenancy.webhookendpoint",
                    ),
                ),
                (
                    "event",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="tenancy.webhookevent",
                    ),
                ),
            ],
            options={
                "db_table": "webhook_deliveries",
            },
        ),
        migrations.CreateModel(
            name="ExportJob",
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
                ("requested_by_id", models.UUIDField(blank=True, null=True)),
                ("include_embeddings", models.BooleanField(default=False)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("running", "Running"),
                            ("ready", "Ready"),
                            ("failed", "Failed"),
                            ("expired", "Expired"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("file_name", models.CharField(blank=True, max_length=300)),
                ("size_bytes", models.BigIntegerField(default=0)),
                ("sha256", models.CharField(blank=True, max_length=64)),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="export_jobs",
                        to="tenancy.workspace",
                    ),
                ),
            ],
            options={
                "db_table": "export_jobs",
                "indexes": [
                    models.Index(
                        fields=["workspace", "-created_at"], name="export_jobs_ws_idx"
                    ),
                    models.Index(
                        fields=["status", "expires_at"], name="export_jobs_exp_idx"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="WebhookAttempt",
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
                ("number", models.PositiveSmallIntegerField()),
                (
                    "status_code",
                    models.PositiveSmallIntegerField(blank=True, null=True),
                ),
                ("duration_ms", models.PositiveIntegerField(default=0)),
                ("response_excerpt", models.TextField(blank=True)),
                ("error", models.CharField(blank=True, max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "workspace",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="webhook_attempts",
                        to="tenancy.workspace",
                    ),
                ),
                (
                    "delivery",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempt_log",
                        to="tenancy.webhookdelivery",
                    ),
                ),
            ],
            options={
                "db_table": "webhook_attempts",
                "ordering": ["number"],
                "indexes": [
                    models.Index(fields=["workspace"], name="webhook_attempts_ws_idx"),
                    models.Index(
                        fields=["delivery", "number"],
                        name="webhook_attempts_delivery_idx",
                    ),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="webhookendpoint",
            index=models.Index(
                fields=["workspace", "is_active"], name="webhook_endpoints_ws_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="webhookevent",
            index=models.Index(
                fields=["workspace", "-created_at"], name="webhook_events_ws_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                fields=["workspace", "-created_at"], name="webhook_deliveries_ws_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                fields=["workspace", "status", "next_attempt_at"],
                name="webhook_deliveries_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                fields=["endpoint", "-created_at"], name="webhook_deliveries_ep_idx"
            ),
        ),
        workspace_isolation("webhook_endpoints"),
        workspace_isolation("webhook_events"),
        workspace_isolation("webhook_deliveries"),
        workspace_isolation("webhook_attempts"),
        workspace_isolation("export_jobs"),
        policies(
            "erasure_receipts",
            {
                "receipt_read": f"FOR SELECT USING ({RECEIPT_REACH})",
                "receipt_create": f"FOR INSERT WITH CHECK ({RECEIPT_REACH})",
                "receipt_update": (
                    f"FOR UPDATE USING ({RECEIPT_REACH}) WITH CHECK ({RECEIPT_REACH})"
                ),
            },
        ),
        migrations.RunSQL(_definer_sql(), _definer_reverse()),
    ]
