"""The tenancy hierarchy: organizations own workspaces; people and keys get in.

An organization is the customer and billing entity. A workspace is the
isolation boundary: everything with a ``workspace_id`` belongs to exactly one
workspace and is guarded by row-level security (docs/tenancy.md).
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone


class PlanTier(models.TextChoices):
    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    PRO = "pro", "Pro"
    ENTERPRISE = "enterprise", "Enterprise"


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trialing"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    PAUSED = "paused", "Paused"


class TimestampedModel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Organization(TimestampedModel):
    """A customer: owns workspaces, is billed, and is held to a plan."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    plan_tier = models.CharField(
        max_length=20, choices=PlanTier.choices, default=PlanTier.FREE
    )

    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True)
    subscription_status = models.CharField(
        max_length=20,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.ACTIVE,
    )
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)

    # Limits copied from the plan when it changes; NULL means unlimited.
    max_workspaces = models.PositiveIntegerField(null=True, blank=True, default=1)
    max_documents_per_workspace = models.PositiveIntegerField(
        null=True, blank=True, default=50
    )
    max_monthly_requests = models.PositiveIntegerField(
        null=True, blank=True, default=1000
    )
    max_agents_per_workspace = models.PositiveIntegerField(
        null=True, blank=True, default=2
    )
    monthly_requests = models.PositiveIntegerField(default=0)
    # Staff-set limits (enterprise contracts) that plan changes leave alone.
    custom_limits = models.BooleanField(default=False)
    # Start of the window monthly requests are counted in: moved forward by
    # each paid invoice; NULL means the calendar month (no paid plan).
    usage_period_start = models.DateTimeField(null=True, blank=True)
    # After a downgrade leaves the organization over its new limits, the
    # previous limits (``grace_limits``) stay in force until ``grace_ends_at``.
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    grace_limits = models.JSONField(default=dict, blank=True)

    contact_email = models.EmailField()
    contact_name = models.CharField(max_length=200, blank=True)

    settings = models.JSONField(default=dict, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "organizations"
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                condition=Q(deleted_at__isnull=True),
                name="organizations_slug_live_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["slug"], name="organizations_slug_idx"),
            models.Index(fields=["plan_tier"], name="organizations_plan_idx"),
            models.Index(
                fields=["stripe_customer_id"], name="organizations_stripe_cus_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class OrganizationRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class OrganizationMember(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="organization_memberships",
    )
    role = models.CharField(
        max_length=10, choices=OrganizationRole.choices, default=OrganizationRole.MEMBER
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "organization_members"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user"], name="org_members_unique"
            ),
        ]
        indexes = [models.Index(fields=["user"], name="org_members_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.organization_id} as {self.role}"


class Workspace(TimestampedModel):
    """An isolated knowledge base: documents, agents, sessions, keys."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="workspaces"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    description = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)

    # Usage counters, kept by the services that change what they count.
    document_count = models.PositiveIntegerField(default=0)
    total_tokens_used = models.BigIntegerField(default=0)
    monthly_requests = models.PositiveIntegerField(default=0)
    last_request_reset_at = models.DateTimeField(auto_now_add=True)

    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "workspaces"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"],
                condition=Q(deleted_at__isnull=True),
                name="workspaces_org_slug_live_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["organization", "slug"], name="workspaces_slug_idx"),
            models.Index(fields=["-created_at"], name="workspaces_created_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def graph_group_id(self) -> str:
        """The knowledge-graph partition that holds this workspace's facts."""
        return f"workspace_{self.id.hex}"


class WorkspaceRole(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class WorkspaceMember(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="workspace_memberships",
    )
    role = models.CharField(
        max_length=10, choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "workspace_members"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "user"], name="workspace_members_unique"
            ),
        ]
        indexes = [models.Index(fields=["user"], name="workspace_members_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.workspace_id} as {self.role}"


class APIKeyEnvironment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class APIKeyScope(models.TextChoices):
    CHAT = "chat", "Chat"
    SEARCH = "search", "Search"
    DOCUMENTS_READ = "documents:read", "Read documents"
    DOCUMENTS_WRITE = "documents:write", "Write documents"
    AGENTS_READ = "agents:read", "Read agents"
    AGENTS_WRITE = "agents:write", "Write agents"
    WEBHOOKS = "webhooks", "Manage webhooks"


def default_api_key_scopes() -> list[str]:
    return [APIKeyScope.CHAT.value, APIKeyScope.SEARCH.value]


class APIKey(models.Model):
    """A workspace-scoped credential for programs.

    Only a SHA-256 digest of the key is stored; ``prefix`` is the public part
    used to find the row and to show the key in lists.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=64)
    environment = models.CharField(
        max_length=4, choices=APIKeyEnvironment.choices, default=APIKeyEnvironment.LIVE
    )
    scopes = ArrayField(
        models.CharField(max_length=32, choices=APIKeyScope.choices),
        default=default_api_key_scopes,
        blank=True,
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=60)

    is_active = models.BooleanField(default=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_keys"
        verbose_name = "API key"
        indexes = [
            models.Index(fields=["workspace", "is_active"], name="api_keys_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditLog(models.Model):
    """An append-only record of a security-relevant change.

    Organization and workspace are kept as plain ids so the record outlives
    what it describes; the runtime role may insert and read rows, never
    change or delete them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization_id = models.UUIDField(null=True, blank=True, db_index=True)
    workspace_id = models.UUIDField(null=True, blank=True)
    actor_user_id = models.UUIDField(null=True, blank=True)
    actor_api_key_prefix = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "audit_log"
        indexes = [
            models.Index(fields=["workspace_id", "-created_at"], name="audit_ws_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


class Invitation(models.Model):
    """An offer, sent by email, to join an organization or one of its workspaces.

    ``role`` is an organization role for an organization invitation and a
    workspace role for a workspace invitation (whose invitee joins the
    organization as a member). Only a SHA-256 digest of the token is stored;
    the token itself exists in the email's link alone.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    workspace = models.ForeignKey(
        Workspace,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "invitations"
        indexes = [
            models.Index(
                fields=["workspace", "-created_at"], name="invitations_ws_idx"
            ),
            models.Index(
                fields=["organization", "-created_at"], name="invitations_org_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace_id or self.organization_id}"

    @property
    def role_label(self) -> str:
        choices = WorkspaceRole if self.workspace_id else OrganizationRole
        return str(dict(choices.choices).get(self.role, self.role))

    @property
    def status(self) -> str:
        """``accepted``, ``revoked``, ``expired`` or ``pending``."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


# Webhooks, exports and erasure receipts live in a module of their own; it
# must be imported for Django to register its models with this app.
import tenancy.data_models  # noqa: E402, F401
