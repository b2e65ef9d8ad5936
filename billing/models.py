"""What workspaces use, recorded for metering and billing."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from tenancy.models import PlanTier, Workspace


class UsageEventType(models.TextChoices):
    CHAT = "chat", "Chat"
    SEARCH = "search", "Search"
    INGEST = "ingest", "Ingestion"


class UsageEvent(models.Model):
    """One metered request: who made it, what it cost.

    Agent, session, user and key are plain ids so usage history survives the
    deletion of what produced it; the workspace is a real foreign key because
    deleting a workspace deletes its data.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="usage_events"
    )
    organization_id = models.UUIDField()
    agent_id = models.UUIDField(null=True, blank=True)
    event_type = models.CharField(max_length=16, choices=UsageEventType.choices)

    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    model_name = models.CharField(max_length=100, blank=True)

    session_id = models.UUIDField(null=True, blank=True)
    user_id = models.UUIDField(null=True, blank=True)
    api_key_id = models.UUIDField(null=True, blank=True)
    is_test = models.BooleanField(
        default=False, help_text="Made with a test key: metered apart, not billed."
    )

    estimated_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    # What the request did and how it went: a failed chat still spent the
    # tokens of its turns and is metered with ``success`` false.
    tools_called = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        help_text="Names of the tools called, in order of first call.",
    )
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    success = models.BooleanField(default=True)
    error_code = models.CharField(max_length=64, blank=True)

    # When it happened, not when the buffer was flushed (billing.services).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "usage_events"
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="usage_ws_idx"),
            models.Index(
                fields=["organization_id", "-created_at"], name="usage_org_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    total_tokens=models.F("input_tokens") + models.F("output_tokens")
                ),
                name="usage_total_tokens_sum",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} in {self.workspace_id}"


class DailyUsageSummary(models.Model):
    """Usage of one workspace on one day, rebuilt from the events."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="daily_usage"
    )
    organization_id = models.UUIDField()
    date = models.DateField()

    total_requests = models.PositiveIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    chat_requests = models.PositiveIntegerField(default=0)
    search_requests = models.PositiveIntegerField(default=0)
    ingest_requests = models.PositiveIntegerField(default=0)
    test_requests = models.PositiveIntegerField(default=0)
    failed_requests = models.PositiveIntegerField(default=0)
    estimated_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "daily_usage_summary"
        verbose_name_plural = "daily usage summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "date"], name="daily_usage_ws_date_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["organization_id", "-date"], name="daily_usage_org_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.workspace_id} on {self.date}"


class Plan(models.Model):
    """A plan tier's price and limits, edited by staff in the admin.

    NULL limits mean unlimited. Changing a plan here changes what new
    subscribers get and, through the admin's save, the limits of every
    organization on it (except those with custom limits). The Stripe price
    of each tier comes from settings (``ATRIUM_STRIPE_PRICES``).
    """

    tier = models.CharField(max_length=20, unique=True, choices=PlanTier.choices)
    name = models.CharField(max_length=100)
    price_monthly_usd = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Empty for a custom (contract) price.",
    )
    max_workspaces = models.PositiveIntegerField(null=True, blank=True)
    max_documents_per_workspace = models.PositiveIntegerField(null=True, blank=True)
    max_monthly_requests = models.PositiveIntegerField(null=True, blank=True)
    max_agents_per_workspace = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "billing_plans"
        ordering = ["price_monthly_usd"]

    def __str__(self) -> str:
        return self.name

    def limits(self) -> dict[str, int | None]:
        return {name: getattr(self, f"max_{name}") for name in LIMIT_NAMES}


LIMIT_NAMES = (
    "workspaces",
    "documents_per_workspace",
    "monthly_requests",
    "agents_per_workspace",
)


class UsageAlertKind(models.TextChoices):
    MONTHLY_REQUESTS = "monthly_requests", "Monthly requests"
    DOCUMENTS = "documents", "Documents in a workspace"


class UsageAlert(models.Model):
    """An alert sent: at most one per kind, subject and period.

    ``subject_id`` is the organization (monthly requests) or the workspace
    (documents); the unique constraint is what makes alerts go out once even
    when two workers check at the same moment. ``workspace`` is the workspace
    the check ran in, so the row is under row-level security like any other.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="usage_alerts"
    )
    organization_id = models.UUIDField()
    kind = models.CharField(max_length=32, choices=UsageAlertKind.choices)
    subject_id = models.UUIDField()
    period_start = models.DateTimeField()
    used = models.PositiveIntegerField()
    maximum = models.PositiveIntegerField()
    recipients = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "usage_alerts"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject_id", "period_start"],
                name="usage_alerts_once_per_period",
            ),
        ]
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"], name="usage_alerts_ws_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert for {self.subject_id}"
