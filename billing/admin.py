from django.contrib import admin

from billing.models import DailyUsageSummary, UsageEvent


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "workspace",
        "total_tokens",
        "estimated_cost_usd",
        "is_test",
    ]
    list_filter = ["event_type", "is_test"]
    search_fields = ["workspace__name", "organization_id", "agent_id"]
    list_select_related = ["workspace"]
    raw_id_fields = ["workspace"]
    date_hierarchy = "created_at"


@admin.register(DailyUsageSummary)
class DailyUsageSummaryAdmin(admin.ModelAdmin):
    list_display = [
        "date",
        "workspace",
        "total_requests",
        "total_tokens",
        "estimated_cost_usd",
    ]
    search_fields = ["workspace__name", "organization_id"]
    list_select_related = ["workspace"]
    raw_id_fields = ["workspace"]
    date_hierarchy = "date"
