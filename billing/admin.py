"""Staff views of plans, usage and alerts."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest

from billing.models import DailyUsageSummary, Plan, UsageAlert, UsageEvent
from billing.services import organization_plan_set, plan_update
from tenancy.admin import OrganizationAdmin
from tenancy.models import Organization


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Plans are edited here; saving applies the limits to their organizations."""

    list_display = [
        "name",
        "tier",
        "price_monthly_usd",
        "max_workspaces",
        "max_documents_per_workspace",
        "max_monthly_requests",
        "max_agents_per_workspace",
        "updated_at",
    ]
    readonly_fields = ["updated_at"]

    def save_model(
        self, request: HttpRequest, obj: Plan, form: Any, change: bool
    ) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        changed = plan_update(plan=obj, fields=fields)
        self.message_user(
            request,
            f"{obj.name}: limits applied to {len(changed)} organizations "
            "(organizations with custom limits keep theirs).",
            messages.INFO,
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Organizations refer to tiers by name; a tier cannot go away.
        return False


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


@admin.register(UsageAlert)
class UsageAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "workspace", "used", "maximum"]
    list_filter = ["kind"]
    list_select_related = ["workspace"]
    raw_id_fields = ["workspace"]
    readonly_fields = [f.name for f in UsageAlert._meta.fields]


admin.site.unregister(Organization)


@admin.register(Organization)
class BillingOrganizationAdmin(OrganizationAdmin):
    """Tenancy's organization admin, plus plan changes through billing.

    Changing ``plan_tier`` here copies the stored plan's limits onto the
    organization (unless it has custom limits) and audits the change.
    """

    def save_model(
        self, request: HttpRequest, obj: Organization, form: Any, change: bool
    ) -> None:
        new_tier = obj.plan_tier
        if change and "plan_tier" in form.changed_data:
            obj.plan_tier = form.initial["plan_tier"]
            super().save_model(request, obj, form, change)
            organization_plan_set(organization=obj, plan_tier=new_tier)
            self.message_user(
                request,
                f"{obj.name} moved to {new_tier}: limits copied from the plan.",
                messages.INFO,
            )
            return
        super().save_model(request, obj, form, change)
