"""Choosing an agent's chat model and its credentials from settings or overrides."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from agents.models import Agent, ModelProvider
from agents.providers import (
    ChatRequest,
    ProviderCredentials,
    ProviderNotConfigured,
    UserMessage,
    chat_model_for_agent,
)
from agents.providers.anthropic_chat import AnthropicChatModel
from agents.providers.extractive import ExtractiveChatModel
from agents.providers.openai_chat import OpenAIChatModel
from tests.agents.conftest import SECRET
from tests.support.llm_servers import AnthropicServer, OpenAIServer

ORGANIZATION_KEY = "sk-org-5b1e7c0a9d8f6e4b3a2c1d0e"

HELLO = ChatRequest(system="", messages=(UserMessage("Hello"),))


def agent(provider: str, model_name: str) -> Agent:
    return Agent(model_provider=provider, model_name=model_name)


def test_openai_agent_uses_the_platform_key_and_address(
    settings: Settings, openai_server: OpenAIServer
) -> None:
    settings.OPENAI_API_KEY = SECRET
    settings.OPENAI_BASE_URL = openai_server.api_url
    openai_server.reply(text="hi")

    model = chat_model_for_agent(agent(ModelProvider.OPENAI, "gpt-4o-mini"))
    model.complete(HELLO)

    assert isinstance(model, OpenAIChatModel)
    assert (model.provider, model.model) == ("openai", "gpt-4o-mini")
    [sent] = openai_server.requests
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.json["model"] == "gpt-4o-mini"


def test_anthropic_agent_uses_the_platform_key_and_address(
    settings: Settings, anthropic_server: AnthropicServer
) -> None:
    settings.ANTHROPIC_API_KEY = SECRET
    settings.ANTHROPIC_BASE_URL = anthropic_server.base_url
    anthropic_server.reply(text="hi")

    model = chat_model_for_agent(agent(ModelProvider.ANTHROPIC, "claude-sonnet"))
    model.complete(HELLO)

    assert isinstance(model, AnthropicChatModel)
    assert anthropic_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert anthropic_server.requests[0].json["model"] == "claude-sonnet"


def test_an_organization_key_replaces_the_platform_key(
    settings: Settings, openai_server: OpenAIServer
) -> None:
    settings.OPENAI_API_KEY = SECRET
    settings.OPENAI_BASE_URL = openai_server.api_url
    openai_server.reply(text="hi")
    override = ProviderCredentials(api_key=ORGANIZATION_KEY)

    chat_model_for_agent(
        agent(ModelProvider.OPENAI, "gpt-4o-mini"), credentials=override
    ).complete(HELLO)

    assert openai_server.requests[0].headers["authorization"] == (
        f"Bearer {ORGANIZATION_KEY}"
    )


def test_another_address_without_its_own_key_is_refused(
    settings: Settings, anthropic_server: AnthropicServer
) -> None:
    settings.ANTHROPIC_API_KEY = SECRET
    override = ProviderCredentials(base_url=anthropic_server.base_url)

    with pytest.raises(ProviderNotConfigured) as caught:
        chat_model_for_agent(
            agent(ModelProvider.ANTHROPIC, "claude-sonnet"), credentials=override
        )

    assert SECRET not in str(caught.value)
    assert anthropic_server.requests == []


def test_another_address_with_its_own_key_gets_that_key(
    settings: Settings, anthropic_server: AnthropicServer
) -> None:
    settings.ANTHROPIC_API_KEY = SECRET
    anthropic_server.reply(text="hi")
    override = ProviderCredentials(
        api_key=ORGANIZATION_KEY, base_url=anthropic_server.base_url
    )

    chat_model_for_agent(
        agent(ModelProvider.ANTHROPIC, "claude-sonnet"), credentials=override
    ).complete(HELLO)

    assert anthropic_server.requests[0].headers["authorization"] == (
        f"Bearer {ORGANIZATION_KEY}"
    )


@pytest.mark.parametrize(
    ("provider", "setting"),
    [
        (ModelProvider.OPENAI, "OPENAI_API_KEY"),
        (ModelProvider.ANTHROPIC, "ANTHROPIC_API_KEY"),
    ],
)
def test_no_key_anywhere_means_not_configured(
    settings: Settings, provider: str, setting: str
) -> None:
    setattr(settings, setting, "")

    with pytest.raises(ProviderNotConfigured) as caught:
        chat_model_for_agent(agent(provider, "some-model"))

    assert caught.value.code == "provider_unavailable"
    assert setting in str(caught.value)


def test_the_extractive_default_needs_no_configuration(settings: Settings) -> None:
    settings.OPENAI_API_KEY = ""
    settings.ANTHROPIC_API_KEY = ""

    model = chat_model_for_agent(agent(ModelProvider.EXTRACTIVE, "extractive"))

    assert isinstance(model, ExtractiveChatModel)
    assert (model.provider, model.model) == ("extractive", "extractive")


def test_an_unknown_provider_is_not_configured() -> None:
    with pytest.raises(ProviderNotConfigured, match="unknown model provider"):
        chat_model_for_agent(agent("mystery", "m"))


def test_credentials_never_show_their_key() -> None:
    credentials = ProviderCredentials(api_key=SECRET, base_url="http://x")

    assert SECRET not in repr(credentials)
    assert SECRET not in str(credentials)
    assert "***" in repr(credentials)
