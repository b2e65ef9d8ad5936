"""Agents (behaviours over workspace knowledge) and their conversations."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from tenancy.models import APIKey, Organization, Workspace


class ModelProvider(models.TextChoices):
    EXTRACTIVE = "extractive", "Extractive (offline, no model)"
    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible server"


class AgentTool(models.TextChoices):
    VECTOR_SEARCH = "vector_search", "Vector search"
    TEXT_SEARCH = "text_search", "Text search"
    HYBRID_SEARCH = "hybrid_search", "Hybrid search"
    GRAPH_SEARCH = "graph_search", "Graph search"
    GET_DOCUMENT = "get_document", "Get document"
    LIST_DOCUMENTS = "list_documents", "List documents"
    GET_ENTITY_RELATIONSHIPS = "get_entity_relationships", "Entity relationships"
    GET_ENTITY_TIMELINE = "get_entity_timeline", "Entity timeline"


def default_enabled_tools() -> list[str]:
    return [AgentTool.VECTOR_SEARCH.value, AgentTool.HYBRID_SEARCH.value]


class Agent(models.Model):
    """A behaviour — prompt, model, tools — over its workspace's knowledge."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="agents"
    )
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80)
    description = models.TextField(blank=True)

    system_prompt = models.TextField()
    model_provider = models.CharField(
        max_length=32, choices=ModelProvider.choices, default=ModelProvider.EXTRACTIVE
    )
    model_name = models.CharField(max_length=100, default="extractive")
    temperature = models.FloatField(default=0.7)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)

    enabled_tools = models.JSONField(default=default_enabled_tools, blank=True)
    tool_config = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True)

    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "agents"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "slug"], name="agents_ws_slug_unique"
            ),
            models.CheckConstraint(
                condition=Q(temperature__gte=0) & Q(temperature__lte=2),
                name="agents_temperature_range",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "is_active"], name="agents_active_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ChatSession(models.Model):
    """A conversation with one agent in one workspace."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="chat_sessions"
    )
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, related_name="sessions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    api_key = models.ForeignKey(
        APIKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "chat_sessions"
        indexes = [
            models.Index(
                fields=["workspace", "-updated_at"], name="chat_sessions_ws_idx"
            ),
            models.Index(fields=["agent"], name="chat_sessions_agent_idx"),
        ]

    def __str__(self) -> str:
        return self.title or str(self.id)


class MessageRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    TOOL = "tool", "Tool"
    SYSTEM = "system", "System"


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="messages"
    )
    session = models.ForeignKey(
        ChatSession, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    content = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    citations = models.JSONField(default=list, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    model_name = models.CharField(max_length=100, blank=True)
    # An answer's latency, steps, tools used and usage event.
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "messages"
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["workspace"], name="messages_ws_idx"),
            models.Index(fields=["session", "created_at"], name="messages_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.role} in {self.session_id}"


class EvalSet(models.Model):
    """Questions with the documents that should answer them, to measure agents.

    ``questions`` is a list of ``{"question": str, "expected_document_ids":
    [uuid, …]}``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="eval_sets"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    questions = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "eval_sets"
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="eval_sets_ws_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class EvalRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class EvalRun(models.Model):
    """One run of an evaluation set against an agent, with its scores.

    ``agent_config`` keeps what the agent was when it ran (model, tools,
    prompt), so two runs stay comparable after the agent changes. A run is
    created queued and scored by a Celery task (``agents.tasks``); who asked
    for it is kept so its model tokens are metered to them.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="eval_runs"
    )
    eval_set = models.ForeignKey(EvalSet, on_delete=models.CASCADE, related_name="runs")
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, related_name="eval_runs"
    )
    agent_config = models.JSONField(default=dict)
    results = models.JSONField(default=list)
    hit_rate = models.FloatField(default=0)
    mrr = models.FloatField(default=0)
    mean_citations = models.FloatField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=EvalRunStatus.choices, default=EvalRunStatus.QUEUED
    )
    error = models.JSONField(default=dict, blank=True)
    user_id = models.UUIDField(null=True, blank=True)
    api_key_id = models.UUIDField(null=True, blank=True)
    is_test = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "eval_runs"
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="eval_runs_ws_idx"),
            models.Index(fields=["eval_set", "-created_at"], name="eval_runs_set_idx"),
        ]

    def __str__(self) -> str:
        return f"run of {self.eval_set_id}"


class ProviderCredential(models.Model):
    """An organization's own key (and server) for one model provider.

    The key is stored sealed (``tenancy.vault``) and only its hint
    is ever shown. Agents of every workspace of the organization use it in
    place of the platform's key for that provider.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="provider_credentials"
    )
    provider = models.CharField(
        max_length=32,
        choices=[
            (value, label)
            for value, label in ModelProvider.choices
            if value != ModelProvider.EXTRACTIVE
        ],
    )
    api_key_sealed = models.TextField(blank=True)
    api_key_hint = models.CharField(max_length=8, blank=True)
    base_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "provider_credentials"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "provider"],
                name="provider_credentials_org_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} for {self.organization_id}"
