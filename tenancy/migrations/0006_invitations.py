"""Invitations to an organization or workspace, and the two doors they need.

An invitation is read and written by the people of its organization (row-level
security as for members), but its invitee is nobody there yet. They get two
narrow SECURITY DEFINER doors (docs/tenancy.md):

- ``atrium_invitation_lookup(token_hash)``: the one invitation with that
  digest, with the names the accept page shows;
- ``atrium_invitation_accept(token_hash)``: for the signed-in user of the
  transaction only, and only if the invitation is pending and addressed to
  one of their verified email addresses, adds the memberships it grants,
  marks it accepted and appends the audit row.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tenancy.rls import (
    CURRENT_USER_ID,
    MANAGED_ORGANIZATIONS,
    VISIBLE_ORGANIZATIONS,
    VISIBLE_WORKSPACES,
    definer_functions_sql,
    policies,
)

READ = f"organization_id = ANY {VISIBLE_ORGANIZATIONS}"
# Organization managers invite to the organization and any workspace; anyone
# who reaches a workspace may write its invitations as far as the database is
# concerned (the application requires the workspace admin role).
WRITE = (
    f"organization_id = ANY {MANAGED_ORGANIZATIONS}"
    f" OR (workspace_id IS NOT NULL AND workspace_id = ANY {VISIBLE_WORKSPACES})"
)

LOOKUP = """
RETURNS TABLE (
    id uuid, organization_id uuid, organization_name text,
    workspace_id uuid, workspace_name text, email text, role text,
    expires_at timestamptz, accepted_at timestamptz, revoked_at timestamptz,
    invited_by_email text, live boolean
) LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT i.id, i.organization_id, o.name, i.workspace_id, w.name, i.email,
           i.role, i.expires_at, i.accepted_at, i.revoked_at, u.email,
           o.deleted_at IS NULL AND (w.id IS NULL OR w.deleted_at IS NULL)
    FROM invitations i
    JOIN organizations o ON o.id = i.organization_id
    LEFT JOIN workspaces w ON w.id = i.workspace_id
    LEFT JOIN users u ON u.id = i.invited_by_id
    WHERE i.token_hash = p_token_hash
$$"""

ACCEPT = f"""
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_user uuid := {CURRENT_USER_ID};
    v_invitation invitations%ROWTYPE;
    v_live boolean;
    v_organization_role text;
BEGIN
    IF v_user IS NULL THEN
        RETURN 'not_signed_in';
    END IF;
    SELECT * INTO v_invitation FROM invitations
    WHERE token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'not_found';
    END IF;
    SELECT o.deleted_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM workspaces w
        WHERE w.id = v_invitation.workspace_id AND w.deleted_at IS NOT NULL
    ) INTO v_live
    FROM organizations o WHERE o.id = v_invitation.organization_id;
    IF NOT v_live THEN
        RETURN 'not_found';
    END IF;
    IF v_invitation.accepted_at IS NOT NULL THEN
        RETURN 'accepted';
    END IF;
    IF v_invitation.revoked_at IS NOT NULL THEN
        RETURN 'revoked';
    END IF;
    IF v_invitation.expires_at <= now() THEN
        RETURN 'expired';
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM users u
        WHERE u.id = v_user AND u.is_active AND u.email_verified
          AND lower(u.email) = lower(v_invitation.email)
        UNION ALL
        SELECT 1 FROM account_emailaddress e
        WHERE e.user_id = v_user AND e.verified
          AND lower(e.email) = lower(v_invitation.email)
    ) THEN
        RETURN 'wrong_email';
    END IF;

    v_organization_role := CASE WHEN v_invitation.workspace_id IS NULL
        THEN v_invitation.role ELSE 'member' END;
    INSERT INTO organization_members (id, organization_id, user_id, role, created_at)
    VALUES (gen_random_uuid(), v_invitation.organization_id, v_user,
            v_organization_role, now())
    ON CONFLICT (organization_id, user_id) DO NOTHING;
    IF v_invitation.workspace_id IS NOT NULL THEN
        INSERT INTO workspace_members (id, workspace_id, user_id, role, created_at)
        VALUES (gen_random_uuid(), v_invitation.workspace_id, v_user,
                v_invitation.role, now())
        ON CONFLICT (workspace_id, user_id) DO NOTHING;
    END IF;
    UPDATE invitations SET accepted_at = now(), accepted_by_id = v_user
    WHERE id = v_invitation.id;
    INSERT INTO audit_log (
        id, organization_id, workspace_id, actor_user_id, actor_api_key_prefix,
        action, target_type, target_id, metadata, ip_address, created_at
    ) VALUES (
        gen_random_uuid(), v_invitation.organization_id, v_invitation.workspace_id,
        v_user, '', 'invitation.accepted', 'Invitation', v_invitation.id::text,
        jsonb_build_object('role', v_invitation.role), NULL, now()
    );
    RETURN 'ok';
END
$$"""

FUNCTIONS = {
    "atrium_invitation_lookup(p_token_hash text)": LOOKUP,
    "atrium_invitation_accept(p_token_hash text)": ACCEPT,
}

# What the accept door may touch, and nothing else.
GRANTS = [
    "SELECT ON invitations, account_emailaddress",
    "UPDATE (accepted_at, accepted_by_id) ON invitations",
    "INSERT ON organization_members, workspace_members, audit_log",
]


def _forward() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    grants = "".join(f'GRANT {grant} TO "{definer}";\n' for grant in GRANTS)
    return grants + definer_functions_sql(FUNCTIONS)


def _backward() -> str:
    definer = settings.DATABASE_DEFINER_ROLE
    drops = "".join(
        f"DROP FUNCTION IF EXISTS {sig};\n" for sig in reversed(list(FUNCTIONS))
    )
    # INSERT on audit_log stays: billing's door (0004) relies on it too.
    return drops + (
        f'REVOKE SELECT, UPDATE ON invitations FROM "{definer}";\n'
        f'REVOKE SELECT ON account_emailaddress FROM "{definer}";\n'
        f'REVOKE INSERT ON organization_members, workspace_members FROM "{definer}";\n'
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tenancy", "0005_visibility_functions_plpgsql"),
        ("account", "0009_emailaddress_unique_primary_email"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Invitation",
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
                ("email", models.EmailField(max_length=254)),
                ("role", models.CharField(max_length=10)),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("expires_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("accepted_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "accepted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "invited_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invitations",
                        to="tenancy.organization",
                    ),
                ),
                (
                    "workspace",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invitations",
                        to="tenancy.workspace",
                    ),
                ),
            ],
            options={
                "db_table": "invitations",
                "indexes": [
                    models.Index(
                        fields=["workspace", "-created_at"], name="invitations_ws_idx"
                    ),
                    models.Index(
                        fields=["organization", "-created_at"],
                        name="invitations_org_idx",
                    ),
                ],
            },
        ),
        policies(
            "invitations",
            {
                "invitation_read": f"FOR SELECT USING ({READ})",
                "invitation_create": f"FOR INSERT WITH CHECK ({WRITE})",
                "invitation_update": f"FOR UPDATE USING ({WRITE}) WITH CHECK ({WRITE})",
                "invitation_delete": (
                    f"FOR DELETE USING (organization_id = ANY {MANAGED_ORGANIZATIONS})"
                ),
            },
        ),
        migrations.RunSQL(_forward(), _backward()),
    ]
