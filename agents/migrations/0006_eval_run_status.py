"""Evaluation runs become queued work, scored by a Celery task."""

from django.db import migrations, models

# Runs made before this migration were scored inside their request. The
# owner is subject to the table's forced row-level security like everyone,
# so it lifts the force for this one statement.
FINISHED_BEFORE = """
ALTER TABLE eval_runs NO FORCE ROW LEVEL SECURITY;
UPDATE eval_runs SET status = 'done';
ALTER TABLE eval_runs FORCE ROW LEVEL SECURITY;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("agents", "0005_provider_credentials"),
    ]

    operations = [
        migrations.AddField(
            model_name="evalrun",
            name="api_key_id",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="error",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="finished_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="is_test",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("running", "Running"),
                    ("done", "Done"),
                    ("failed", "Failed"),
                ],
                default="queued",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="evalrun",
            name="user_id",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.RunSQL(FINISHED_BEFORE, migrations.RunSQL.noop),
    ]
