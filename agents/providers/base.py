"""The interface every chat-model adapter implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from django.conf import settings

from agents.providers.types import ChatRequest, ChatResult, StreamEvent


def default_timeout() -> float:
    """Seconds one HTTP attempt may take, connection to last byte."""
    return float(getattr(settings, "ATRIUM_PROVIDER_TIMEOUT", 60))


@runtime_checkable
class ChatModel(Protocol):
    """A model bound to a provider, credentials and a model name.

    `complete` returns the whole answer; `stream` yields events as the model
    writes them and always ends with `Done`, whose result equals what
    `complete` would have returned. Both raise `ProviderError` subclasses
    only.
    """

    provider: str
    model: str

    def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]: ...
