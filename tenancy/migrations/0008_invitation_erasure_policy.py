"""Let the erasure of a workspace remove its invitations.

Invitations may be deleted by the organization's managers only, but the
purge removes a workspace's rows as system work inside that workspace
(tenancy/erasure.py). This permissive policy admits exactly that: system
work may delete the invitations of its own workspace, and nothing else.
"""

from django.db import migrations

from tenancy.rls import CURRENT_WORKSPACE_ID, VISIBLE_WORKSPACES

OWN_WORKSPACE = (
    f"workspace_id IS NOT NULL AND workspace_id = {CURRENT_WORKSPACE_ID}"
    f" AND workspace_id = ANY {VISIBLE_WORKSPACES}"
)


class Migration(migrations.Migration):
    dependencies = [("tenancy", "0007_webhooks_exports_erasure")]

    operations = [
        migrations.RunSQL(
            f"CREATE POLICY invitation_erase ON invitations FOR DELETE"
            f" USING ({OWN_WORKSPACE});",
            "DROP POLICY IF EXISTS invitation_erase ON invitations;",
        ),
    ]
