"""Row-level security: every row belongs to one workspace (tenancy/rls.py)."""

from django.db import migrations

from tenancy.rls import workspace_isolation


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0001_initial"),
        ("tenancy", "0002_row_level_security"),
    ]

    operations = [
        workspace_isolation("agents"),
        workspace_isolation("chat_sessions"),
        workspace_isolation("messages"),
    ]
