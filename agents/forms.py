"""Forms of the dashboard's chat and agents pages.

The agent form only turns HTML inputs into the API's input shape; the rules
(lengths, ranges, choices, known tools) are the API serializer's, run on the
cleaned values, so a page and an API call can never disagree on what an
agent may be.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms

from agents.api.chat import QUERY_MAX
from agents.api.serializers import AgentIn
from agents.models import Agent, AgentTool, ModelProvider

# What each tool does, shown beside its checkbox.
TOOL_HELP = {
    "hybrid_search": "Meaning and keywords fused, plus graph facts: the best default.",
    "vector_search": "Passages closest in meaning to the question.",
    "text_search": "Keyword search with quotes, OR and -exclusion.",
    "graph_search": "Facts (entity, relation, entity) from the knowledge graph.",
    "get_document": "Read a whole document by its id.",
    "list_documents": "List the workspace's documents.",
    "get_entity_relationships": "Every fact linking an entity to others.",
    "get_entity_timeline": "An entity's facts in the order they became true.",
}

# Suggestions for the model field; any name the provider serves is accepted.
MODEL_SUGGESTIONS = {
    ModelProvider.EXTRACTIVE.value: ["extractive"],
    ModelProvider.OPENAI.value: ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1"],
    ModelProvider.ANTHROPIC.value: [
        "claude-3-5-haiku-latest",
        "claude-sonnet-4-0",
        "claude-opus-4-0",
    ],
    ModelProvider.OPENAI_COMPATIBLE.value: ["llama3.1", "qwen2.5", "mistral"],
}


class ChatForm(forms.Form):
    """A question for an agent, in a new or an existing session."""

    agent = forms.UUIDField()
    query = forms.CharField(max_length=QUERY_MAX, strip=True)
    session = forms.UUIDField(required=False)


class ToolChoices(forms.CheckboxSelectMultiple):
    """Checkboxes whose options also carry what the tool does (``data.help``)."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        option["help"] = TOOL_HELP.get(str(option["value"]), "")
        return option


class AgentForm(forms.Form):
    name = forms.CharField(max_length=200, strip=True)
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For your team: what this agent is for.",
    )
    system_prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 7}),
        help_text="How the agent behaves. Atrium adds how to use tools and cite.",
    )
    model_provider = forms.ChoiceField(
        label="Provider",
        choices=ModelProvider.choices,
        initial=ModelProvider.EXTRACTIVE,
    )
    model_name = forms.CharField(
        label="Model",
        max_length=100,
        initial="extractive",
        widget=forms.TextInput(attrs={"list": "model-suggestions"}),
    )
    temperature = forms.FloatField(
        initial=0.7,
        widget=forms.NumberInput(attrs={"min": "0", "max": "2", "step": "0.1"}),
        help_text="0 answers the same way each time; up to 2 varies more.",
    )
    max_tokens = forms.IntegerField(
        label="Longest answer (tokens)",
        required=False,
        widget=forms.NumberInput(attrs={"min": "1", "max": "200000"}),
        help_text="Empty: the model's own limit.",
    )
    enabled_tools = forms.MultipleChoiceField(
        label="Tools",
        choices=AgentTool.choices,
        required=False,
        widget=ToolChoices,
        initial=["hybrid_search", "vector_search"],
    )
    tool_config = forms.CharField(
        label="Tool settings (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='An object keyed by tool name, e.g. {"hybrid_search": {}}.',
    )
    is_active = forms.BooleanField(
        label="Active: answers chats", required=False, initial=True
    )

    @classmethod
    def for_agent(cls, agent: Agent, data: Any = None) -> AgentForm:
        initial = {
            "name": agent.name,
            "description": agent.description,
            "system_prompt": agent.system_prompt,
            "model_provider": agent.model_provider,
            "model_name": agent.model_name,
            "temperature": agent.temperature,
            "max_tokens": agent.max_tokens,
            "enabled_tools": list(agent.enabled_tools or []),
            "tool_config": (
                json.dumps(agent.tool_config, indent=2) if agent.tool_config else ""
            ),
            "is_active": agent.is_active,
        }
        return cls(data, initial=initial)

    def clean_tool_config(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("tool_config") or ""
        if not raw.strip():
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"Not valid JSON: {error.msg} (line {error.lineno}).",
                code="invalid_json",
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(
                "Tool settings must be a JSON object.", code="invalid_json"
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        values = {k: v for k, v in cleaned.items() if k in AgentIn().fields}
        checked = AgentIn(data=values)
        if not checked.is_valid():
            for field, problems in checked.errors.items():
                target = field if field in self.fields else None
                for problem in _messages(problems):
                    self.add_error(target, problem)
            return cleaned
        return {**cleaned, **checked.validated_data}

    def agent_fields(self) -> dict[str, Any]:
        """The cleaned values as the agent services take them."""
        fields = {k: v for k, v in self.cleaned_data.items() if k in self.fields}
        return fields


def _messages(problems: Any) -> list[str]:
    if isinstance(problems, dict):
        return [m for value in problems.values() for m in _messages(value)]
    if isinstance(problems, list):
        return [m for value in problems for m in _messages(value)]
    return [str(problems)]
