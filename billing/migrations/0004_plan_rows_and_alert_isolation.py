"""The four tiers of the design, and row-level security for usage alerts.

Staff change plans in the admin afterwards; this only seeds them.
"""

from decimal import Decimal

from django.db import migrations

from tenancy.rls import workspace_isolation

TIERS = [
    ("free", "Free", Decimal("0"), 1, 50, 1_000, 2),
    ("starter", "Starter", Decimal("29"), 3, 500, 10_000, 5),
    ("pro", "Pro", Decimal("99"), 10, 5_000, 100_000, 20),
    ("enterprise", "Enterprise", None, None, None, None, None),
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for tier, name, price, workspaces, documents, requests, agents in TIERS:
        Plan.objects.get_or_create(
            tier=tier,
            defaults={
                "name": name,
                "price_monthly_usd": price,
                "max_workspaces": workspaces,
                "max_documents_per_workspace": documents,
                "max_monthly_requests": requests,
                "max_agents_per_workspace": agents,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("billing", "Plan").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_plans_and_alerts"),
        ("tenancy", "0004_organization_billing"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
        workspace_isolation("usage_alerts"),
    ]
