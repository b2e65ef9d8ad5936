"""The retry policy and the status-to-error mapping, without any server."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator

import pytest
from pytest_django.fixtures import Settings

from agents.providers import (
    ProviderAuthFailed,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
    RetryPolicy,
)
from agents.providers.errors import error_for_status, parse_retry_after
from agents.providers.retry import call_with_retry, stream_with_retry
from tests.agents.conftest import SECRET, Clock


def flaky(
    failures: list[ProviderError], answer: str = "ok"
) -> tuple[Callable[[], str], list[int]]:
    """A call that raises each of `failures` in turn, then answers."""
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return answer

    return call, calls


def server_error() -> ProviderError:
    return ProviderError("boom", provider="p", status=500, retryable=True)


def test_backoff_doubles_and_is_capped(clock: Clock) -> None:
    policy = RetryPolicy(
        max_attempts=6,
        base_delay=1.0,
        max_delay=5.0,
        total_seconds=100.0,
        sleep=clock.sleep,
        clock=clock.time,
        jitter=lambda delay: delay,
    )
    call, calls = flaky([server_error() for _ in range(5)])

    assert call_with_retry(policy, call) == "ok"
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert len(calls) == 6


def test_total_time_bounds_the_retries(clock: Clock) -> None:
    policy = RetryPolicy(
        max_attempts=10,
        base_delay=1.0,
        max_delay=8.0,
        total_seconds=5.0,
        sleep=clock.sleep,
        clock=clock.time,
        jitter=lambda delay: delay,
    )
    call, calls = flaky([server_error() for _ in range(10)])

    with pytest.raises(ProviderError):
        call_with_retry(policy, call)

    # 1 + 2 = 3 s slept; waiting 4 more would pass the 5 s budget.
    assert clock.sleeps == [1.0, 2.0]
    assert len(calls) == 3


def test_errors_that_are_not_retryable_are_raised_at_once(
    retry: RetryPolicy, clock: Clock
) -> None:
    call, calls = flaky([ProviderBadRequest("no", provider="p", status=400)])

    with pytest.raises(ProviderBadRequest):
        call_with_retry(retry, call)

    assert len(calls) == 1
    assert clock.sleeps == []


def test_jitter_keeps_delays_within_half_and_whole_backoff() -> None:
    policy = RetryPolicy(base_delay=2.0)
    delays = [
        policy.delay_before_retry(server_error(), attempt=1, started=time.monotonic())
        for _ in range(50)
    ]

    assert all(d is not None and 1.0 <= d <= 2.0 for d in delays)


def test_stream_retry_stops_once_an_event_is_out(
    retry: RetryPolicy, clock: Clock
) -> None:
    opened = []

    def open_stream() -> Iterator[str]:
        opened.append(1)
        if len(opened) == 1:
            raise server_error()
        yield "first"
        raise server_error()

    seen = []
    with pytest.raises(ProviderError):
        for event in stream_with_retry(retry, open_stream):
            seen.append(event)

    assert seen == ["first"]
    assert len(opened) == 2
    assert clock.sleeps == [0.5]


def test_policy_reads_its_bounds_from_settings(settings: Settings) -> None:
    settings.ATRIUM_PROVIDER_MAX_ATTEMPTS = 5
    settings.ATRIUM_PROVIDER_RETRY_SECONDS = 12

    policy = RetryPolicy.from_settings()

    assert (policy.max_attempts, policy.total_seconds) == (5, 12.0)


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [
        (400, ProviderBadRequest, False),
        (401, ProviderAuthFailed, False),
        (403, ProviderAuthFailed, False),
        (404, ProviderBadRequest, False),
        (408, ProviderTimeout, False),
        (409, ProviderBadRequest, False),
        (422, ProviderBadRequest, False),
        (429, ProviderRateLimited, True),
        (500, ProviderError, True),
        (502, ProviderError, True),
        (503, ProviderUnavailable, True),
        (504, ProviderError, True),
        (529, ProviderUnavailable, True),
    ],
)
def test_status_mapping(
    status: int, error_type: type[ProviderError], retryable: bool
) -> None:
    error = error_for_status(
        provider="p", status=status, headers={}, detail="why", secrets=()
    )

    assert type(error) is error_type
    assert error.retryable is retryable
    assert error.code == error_type.code


def test_vendor_detail_is_redacted_and_shortened() -> None:
    error = error_for_status(
        provider="p",
        status=400,
        headers={},
        detail=f"bad key {SECRET} " + "x" * 1000,
        secrets=(SECRET,),
    )

    assert SECRET not in str(error)
    assert "[redacted]" in str(error)
    assert len(str(error)) < 400


def test_auth_failures_never_repeat_the_vendor_message() -> None:
    error = error_for_status(
        provider="p",
        status=401,
        headers={},
        detail="Incorrect API key provided: sk-abc***xyz",
        secrets=(),
    )

    assert "sk-abc" not in str(error)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-3"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.formatdate(time.time() + 30, usegmt=True)

    seconds = parse_retry_after({"retry-after": later})

    assert seconds is not None
    assert 25 <= seconds <= 31
