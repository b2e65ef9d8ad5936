from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from agents.models import Agent, ChatSession, Message, ProviderCredential


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "workspace",
        "model_provider",
        "model_name",
        "is_active",
    ]
    list_filter = ["model_provider", "is_active"]
    search_fields = ["name", "slug", "workspace__name", "id"]
    list_select_related = ["workspace"]
    raw_id_fields = ["workspace"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["role", "content", "input_tokens", "output_tokens", "created_at"]
    readonly_fields = ["role", "content", "input_tokens", "output_tokens", "created_at"]


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "workspace", "agent", "updated_at"]
    search_fields = ["id", "title", "workspace__name"]
    list_select_related = ["workspace", "agent"]
    raw_id_fields = ["workspace", "agent", "user", "api_key"]
    inlines = [MessageInline]


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(admin.ModelAdmin):
    """Shows which organizations bring their own keys; never the keys.

    The sealed value is not even a field here. Keys are set by the
    organization's admins through the API; staff may only delete one.
    """

    list_display = ["organization", "provider", "api_key_hint", "base_url"]
    list_filter = ["provider"]
    search_fields = ["organization__name"]
    list_select_related = ["organization"]
    fields = readonly_fields = (
        "organization",
        "provider",
        "api_key_hint",
        "base_url",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
