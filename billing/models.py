"""What workspaces use, recorded for metering and billing."""

import uuid

from django.db import models

from tenancy.models import Workspace


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
    created_at = models.DateTimeField(auto_now_add=True)

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
