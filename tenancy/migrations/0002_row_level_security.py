"""Row-level security for the tenancy tables (see tenancy/rls.py)."""

from django.db import migrations

from tenancy.rls import (
    CURRENT_USER_ID,
    MANAGED_ORGANIZATIONS,
    VISIBLE_ORGANIZATIONS,
    VISIBLE_WORKSPACES,
    create_functions,
    policies,
    workspace_isolation,
)

ORG_VISIBLE = f"id = ANY {VISIBLE_ORGANIZATIONS}"
ORG_MANAGED = f"id = ANY {MANAGED_ORGANIZATIONS}"
MEMBER_VISIBLE = f"organization_id = ANY {VISIBLE_ORGANIZATIONS}"
MEMBER_MANAGED = f"organization_id = ANY {MANAGED_ORGANIZATIONS}"
# The creator of a new organization may add themselves as its first owner.
FIRST_OWNER = (
    f"user_id = {CURRENT_USER_ID} AND role = 'owner'"
    " AND NOT atrium_organization_has_members(organization_id)"
)
WORKSPACE_REACH = (
    f"id = ANY {VISIBLE_WORKSPACES} OR organization_id = ANY {MANAGED_ORGANIZATIONS}"
)
AUDIT_VISIBLE = (
    f"workspace_id = ANY {VISIBLE_WORKSPACES}"
    f" OR (workspace_id IS NULL AND organization_id = ANY {VISIBLE_ORGANIZATIONS})"
    f" OR (workspace_id IS NULL AND organization_id IS NULL"
    f"     AND actor_user_id = {CURRENT_USER_ID})"
)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("tenancy", "0001_initial"),
    ]

    operations = [
        create_functions(),
        policies(
            "organizations",
            {
                "organization_read": f"FOR SELECT USING ({ORG_VISIBLE})",
                "organization_create": (
                    f"FOR INSERT WITH CHECK ({CURRENT_USER_ID} IS NOT NULL)"
                ),
                "organization_update": (
                    f"FOR UPDATE USING ({ORG_MANAGED}) WITH CHECK ({ORG_MANAGED})"
                ),
                "organization_delete": f"FOR DELETE USING ({ORG_MANAGED})",
            },
        ),
        policies(
            "organization_members",
            {
                "member_read": f"FOR SELECT USING ({MEMBER_VISIBLE})",
                "member_create": (
                    f"FOR INSERT WITH CHECK ({MEMBER_MANAGED} OR {FIRST_OWNER})"
                ),
                "member_update": (
                    f"FOR UPDATE USING ({MEMBER_MANAGED}) WITH CHECK ({MEMBER_MANAGED})"
                ),
                "member_delete": (
                    f"FOR DELETE USING ({MEMBER_MANAGED}"
                    f" OR user_id = {CURRENT_USER_ID})"
                ),
            },
        ),
        policies(
            "workspaces",
            {
                "workspace_isolation": (
                    f"FOR ALL USING ({WORKSPACE_REACH}) WITH CHECK ({WORKSPACE_REACH})"
                ),
            },
        ),
        workspace_isolation("workspace_members"),
        workspace_isolation("api_keys"),
        policies(
            "audit_log",
            {
                # Append-only: no UPDATE or DELETE policy, so both touch 0 rows.
                "audit_read": f"FOR SELECT USING ({AUDIT_VISIBLE})",
                "audit_append": f"FOR INSERT WITH CHECK ({AUDIT_VISIBLE})",
            },
        ),
    ]
