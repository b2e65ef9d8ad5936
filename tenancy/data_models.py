"""What a workspace sends out and takes away: webhooks, exports, erasure receipts.

Imported by ``tenancy.models``; see docs/webhooks.md and docs/data.md.
"""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from tenancy.models import Workspace


class WebhookEventType(models.TextChoices):
    DOCUMENT_READY = "document.ready", "Document ready"
    DOCUMENT_FAILED = "document.failed", "Document failed"
    USAGE_THRESHOLD = "usage.threshold", "Usage past a threshold"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"


class WebhookEndpoint(models.Model):
    """A URL of the customer's that receives the workspace's events, signed.

    The signing secret is kept encrypted (``tenancy.webhooks``): it has to be
    read back to sign, unlike an API key, which is only compared.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    events = ArrayField(
        models.CharField(max_length=32, choices=WebhookEventType.choices)
    )
    is_active = models.BooleanField(default=True)
    secret_encrypted = models.TextField()
    # Why the endpoint stopped receiving (a 410 from the receiver), if it did.
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_by_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_endpoints"
        indexes = [
            models.Index(
                fields=["workspace", "is_active"], name="webhook_endpoints_ws_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One event of a workspace, kept so its deliveries can be replayed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=32, choices=WebhookEventType.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_events"
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"], name="webhook_events_ws_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to one endpoint, over one or more attempts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(
        WebhookEvent, on_delete=models.CASCADE, related_name="deliveries"
    )
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=16,
        choices=WebhookDeliveryStatus.choices,
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; while an attempt runs, the end of its
    # lease, so the sweeper leaves it alone.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"], name="webhook_deliveries_ws_idx"
            ),
            models.Index(
                fields=["workspace", "status", "next_attempt_at"],
                name="webhook_deliveries_due_idx",
            ),
            models.Index(
                fields=["endpoint", "-created_at"],
                name="webhook_deliveries_ep_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery and what the receiver answered."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="webhook_attempts"
    )
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # The first bytes of the response body (ATRIUM_WEBHOOK_RESPONSE_EXCERPT).
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_attempts"
        ordering = ["number"]
        indexes = [
            models.Index(fields=["workspace"], name="webhook_attempts_ws_idx"),
            models.Index(
                fields=["delivery", "number"], name="webhook_attempts_delivery_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class ExportJob(models.Model):
    """A workspace archive asked for by an admin, built by a task."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="export_jobs"
    )
    requested_by_id = models.UUIDField(null=True, blank=True)
    include_embeddings = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING
    )
    file_name = models.CharField(max_length=300, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "export_jobs"
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"], name="export_jobs_ws_idx"
            ),
            models.Index(fields=["status", "expires_at"], name="export_jobs_exp_idx"),
        ]

    def __str__(self) -> str:
        return f"export {self.id} ({self.status})"


class ErasureSubject(models.TextChoices):
    WORKSPACE = "workspace", "Workspace"
    ORGANIZATION = "organization", "Organization"


class ErasureStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    PARTIAL = "partial", "Completed with errors"
    FAILED = "failed", "Failed"


class ErasureReceipt(models.Model):
    """What the purge of a deleted workspace or organization removed.

    It has no ``workspace_id`` column on purpose: the receipt outlives the
    workspace, and no trace of the workspace's data is left in a table that
    carries one. The subject is kept as plain ids.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_type = models.CharField(max_length=16, choices=ErasureSubject.choices)
    subject_id = models.UUIDField()
    organization_id = models.UUIDField()
    requested_by_id = models.UUIDField()
    status = models.CharField(
        max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.PENDING
    )
    # {"tables": {name: rows}, "files": {...}, "graph": {...}, "cache": {...}}
    removed = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "erasure_receipts"
        indexes = [
            models.Index(
                fields=["organization_id", "-requested_at"],
                name="erasure_receipts_org_idx",
            ),
            models.Index(
                fields=["requested_by_id", "-requested_at"],
                name="erasure_receipts_user_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"erasure of {self.subject_type} {self.subject_id}"
