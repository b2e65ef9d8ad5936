from django.contrib import admin

from agents.models import Agent, ChatSession, Message


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
