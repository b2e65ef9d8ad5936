"""Chat models behind one interface: OpenAI, Anthropic, OpenAI-compatible servers.

Use `chat_model_for_agent(agent)` to get a `ChatModel`, then `complete()` or
`stream()` a `ChatRequest`. See docs/providers.md.
"""

from agents.providers.base import ChatModel
from agents.providers.credentials import ProviderCredentials
from agents.providers.errors import (
    ProviderAddressRefused,
    ProviderAuthFailed,
    ProviderBadRequest,
    ProviderError,
    ProviderNotConfigured,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from agents.providers.registry import chat_model_for_agent
from agents.providers.retry import RetryPolicy
from agents.providers.types import (
    AssistantMessage,
    ChatRequest,
    ChatResult,
    Done,
    Message,
    StopReason,
    StreamAssembler,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UsageUpdate,
    UserMessage,
)

__all__ = [
    "AssistantMessage",
    "ChatModel",
    "ChatRequest",
    "ChatResult",
    "Done",
    "Message",
    "ProviderAddressRefused",
    "ProviderAuthFailed",
    "ProviderBadRequest",
    "ProviderCredentials",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderRateLimited",
    "ProviderTimeout",
    "ProviderUnavailable",
    "RetryPolicy",
    "StopReason",
    "StreamAssembler",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "ToolDefinition",
    "ToolResultMessage",
    "Usage",
    "UsageUpdate",
    "UserMessage",
    "chat_model_for_agent",
]
