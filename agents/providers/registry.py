"""Pick the chat model for an agent from its `model_provider` and `model_name`.

Each provider name of `agents.models.ModelProvider` maps to one factory. A
factory gets the agent (the offline provider needs its workspace) and the
organization's credentials override, if the caller has one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from agents.models import ModelProvider
from agents.providers.anthropic_chat import AnthropicChatModel
from agents.providers.base import ChatModel
from agents.providers.credentials import (
    ProviderCredentials,
    anthropic_credentials,
    compatible_credentials,
    openai_credentials,
)
from agents.providers.errors import ProviderNotConfigured
from agents.providers.extractive import ExtractiveChatModel
from agents.providers.openai_chat import OpenAIChatModel


class AgentModelChoice(Protocol):
    """What the registry reads from an agent; `agents.models.Agent` fits."""

    @property
    def model_provider(self) -> str: ...

    @property
    def model_name(self) -> str: ...


Factory = Callable[[AgentModelChoice, ProviderCredentials | None], ChatModel]


def _openai(agent: AgentModelChoice, override: ProviderCredentials | None) -> ChatModel:
    return OpenAIChatModel(
        model=agent.model_name, credentials=openai_credentials(override)
    )


def _anthropic(
    agent: AgentModelChoice, override: ProviderCredentials | None
) -> ChatModel:
    return AnthropicChatModel(
        model=agent.model_name, credentials=anthropic_credentials(override)
    )


def _openai_compatible(
    agent: AgentModelChoice, override: ProviderCredentials | None
) -> ChatModel:
    return OpenAIChatModel(
        model=agent.model_name,
        credentials=compatible_credentials(override),
        provider=ModelProvider.OPENAI_COMPATIBLE.value,
        max_tokens_field="max_tokens",
    )


def _extractive(
    agent: AgentModelChoice, override: ProviderCredentials | None
) -> ChatModel:
    # Needs no credentials: it searches and quotes, offline.
    return ExtractiveChatModel(model=agent.model_name)


FACTORIES: dict[str, Factory] = {
    ModelProvider.EXTRACTIVE.value: _extractive,
    ModelProvider.OPENAI.value: _openai,
    ModelProvider.ANTHROPIC.value: _anthropic,
    ModelProvider.OPENAI_COMPATIBLE.value: _openai_compatible,
}


def chat_model_for_agent(
    agent: AgentModelChoice, *, credentials: ProviderCredentials | None = None
) -> ChatModel:
    """Build the agent's chat model.

    `credentials` is the organization's own entry for this provider, already
    decrypted; without it the platform's settings apply. Raises
    `ProviderNotConfigured` for an unknown provider or a missing key.
    """
    factory = FACTORIES.get(agent.model_provider)
    if factory is None:
        raise ProviderNotConfigured(
            f"unknown model provider {agent.model_provider!r}",
            provider=agent.model_provider,
        )
    return factory(agent, credentials)
