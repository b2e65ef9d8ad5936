"""Bounded retry with exponential backoff for provider calls.

The SDKs' own retries are switched off (`max_retries=0`) so that this is the
only retry loop: one policy for every vendor, bounded in attempts and in
total time, and testable by injecting `sleep` and `clock`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings

from agents.providers.errors import ProviderError, ProviderRateLimited

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _half_jitter(delay: float) -> float:
    # Spreads clients that failed together so they do not retry together.
    return random.uniform(delay / 2, delay)  # noqa: S311 - not for security


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; `total_seconds` bounds the whole call."""

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    total_seconds: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    jitter: Callable[[float], float] = field(default=_half_jitter, repr=False)

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            max_attempts=int(getattr(settings, "ATRIUM_PROVIDER_MAX_ATTEMPTS", 3)),
            total_seconds=float(getattr(settings, "ATRIUM_PROVIDER_RETRY_SECONDS", 30)),
        )

    def delay_before_retry(
        self, error: ProviderError, *, attempt: int, started: float
    ) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if not error.retryable or attempt >= self.max_attempts:
            return None

        if isinstance(error, ProviderRateLimited) and error.retry_after is not None:
            # The server said when; waiting less only earns another 429.
            delay = error.retry_after
            if delay > self.max_delay:
                return None
        else:
            delay = self.jitter(
                min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
            )

        if self.clock() - started + delay > self.total_seconds:
            return None
        return delay


def _log_retry(error: ProviderError, attempt: int, delay: float) -> None:
    logger.warning(
        "provider call failed, retrying",
        extra={
            "provider": error.provider,
            "code": error.code,
            "status": error.status,
            "attempt": attempt,
            "delay": round(delay, 3),
        },
    )


def call_with_retry(policy: RetryPolicy, call: Callable[[], T]) -> T:
    """Run `call`, retrying retryable provider errors within the policy."""
    started = policy.clock()
    attempt = 1
    while True:
        try:
            return call()
        except ProviderError as error:
            delay = policy.delay_before_retry(error, attempt=attempt, started=started)
            if delay is None:
                raise
            _log_retry(error, attempt, delay)
        policy.sleep(delay)
        attempt += 1


def stream_with_retry(
    policy: RetryPolicy, open_stream: Callable[[], Iterator[T]]
) -> Iterator[T]:
    """Yield a stream's events, retrying only until the first one is out.

    Once an event has reached the caller, a new attempt would repeat or
    contradict what it already showed, so later failures are raised as they
    are.
    """
    started = policy.clock()
    attempt = 1
    while True:
        events = open_stream()
        try:
            first = next(events)
        except StopIteration:
            return
        except ProviderError as error:
            delay = policy.delay_before_retry(error, attempt=attempt, started=started)
            if delay is None:
                raise
            _log_retry(error, attempt, delay)
            policy.sleep(delay)
            attempt += 1
            continue

        yield first
        yield from events
        return
