from django.contrib import admin

from tenancy.models import (
    APIKey,
    AuditLog,
    Organization,
    OrganizationMember,
    Workspace,
    WorkspaceMember,
)


class OrganizationMemberInline(admin.TabularInline):
    model = OrganizationMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "plan_tier",
        "subscription_status",
        "contact_email",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["plan_tier", "subscription_status", "deleted_at"]
    search_fields = ["name", "slug", "contact_email", "stripe_customer_id", "id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [OrganizationMemberInline]


class WorkspaceMemberInline(admin.TabularInline):
    model = WorkspaceMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "organization",
        "document_count",
        "monthly_requests",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["organization__plan_tier", "deleted_at"]
    search_fields = ["name", "slug", "organization__name", "id"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [WorkspaceMemberInline]


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    """Keys are found by prefix; the hash is never shown."""

    list_display = [
        "name",
        "prefix",
        "workspace",
        "environment",
        "is_active",
        "last_used_at",
        "expires_at",
        "revoked_at",
    ]
    list_filter = ["environment", "is_active"]
    search_fields = ["prefix", "name", "workspace__name"]
    list_select_related = ["workspace"]
    exclude = ["key_hash"]
    readonly_fields = [
        "id",
        "prefix",
        "workspace",
        "environment",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        # A key made here could never be shown to anyone; use the dashboard.
        return False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "action",
        "target_type",
        "target_id",
        "organization_id",
        "workspace_id",
        "actor_user_id",
        "actor_api_key_prefix",
    ]
    list_filter = ["action"]
    search_fields = ["action", "target_id", "actor_api_key_prefix"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
