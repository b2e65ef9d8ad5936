from __future__ import annotations

from typing import Any

from rest_framework import serializers

from agents.models import Agent, AgentTool, ModelProvider
from tenancy.api.serializers import StrictSerializer


class AgentOut(serializers.ModelSerializer):
    class Meta:
        model = Agent
        fields = [
            "id",
            "workspace_id",
            "name",
            "slug",
            "description",
            "system_prompt",
            "model_provider",
            "model_name",
            "temperature",
            "max_tokens",
            "enabled_tools",
            "tool_config",
            "settings",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AgentIn(StrictSerializer):
    """Fields of an agent; on update every field is optional."""

    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    system_prompt = serializers.CharField(max_length=20_000)
    model_provider = serializers.ChoiceField(
        choices=ModelProvider.choices, default=ModelProvider.EXTRACTIVE
    )
    model_name = serializers.CharField(max_length=100, default="extractive")
    temperature = serializers.FloatField(min_value=0.0, max_value=2.0, default=0.7)
    max_tokens = serializers.IntegerField(
        min_value=1, max_value=200_000, required=False, allow_null=True
    )
    enabled_tools = serializers.ListField(
        child=serializers.ChoiceField(choices=AgentTool.choices),
        required=False,
        max_length=len(AgentTool.choices),
    )
    tool_config = serializers.DictField(required=False)
    settings = serializers.DictField(required=False)
    is_active = serializers.BooleanField(required=False)

    def validate_enabled_tools(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(attrs.get("tool_config", {})) - set(AgentTool.values)
        if unknown:
            raise serializers.ValidationError(
                {"tool_config": [f"Unknown tools: {', '.join(sorted(unknown))}."]},
                code="unknown_tool",
            )
        return attrs
