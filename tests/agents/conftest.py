"""Fixtures for the chat-model provider tests: servers, a sleepless retry policy."""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from agents.providers import RetryPolicy
from tests.api.conftest import world  # noqa: F401  (the personas fixture)
from tests.support.llm_servers import AnthropicServer, OpenAIServer

# Looks like a real key so that any echo of it is easy to spot.
SECRET = "sk-test-9f2c41d7e8b3a6c5d4e3f2a1b0c9d8e7"

SDK_LOGGERS = ("openai", "anthropic", "httpx2", "httpcore2", "agents")


@dataclass
class Clock:
    """A fake clock that moves only when the retry loop sleeps."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def retry(clock: Clock) -> RetryPolicy:
    """Three attempts, delays of 0.5 s then 1 s, never actually waited."""
    return RetryPolicy(
        max_attempts=3,
        base_delay=0.5,
        max_delay=8.0,
        total_seconds=30.0,
        sleep=clock.sleep,
        clock=clock.time,
        jitter=lambda delay: delay,
    )


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens, so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record, the SDKs' debug output included."""
    caplog.set_level(logging.DEBUG)
    for name in SDK_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def everything_said(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """All text an operator could see: the error, its traceback, every log."""
    records = "\n".join(
        f"{record.getMessage()} {record.__dict__}" for record in caplog.records
    )
    return "\n".join(
        [
            str(error),
            repr(error),
            "".join(traceback.format_exception(error)),
            records,
            caplog.text,
        ]
    )
