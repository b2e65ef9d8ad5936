"""Typed provider failures with stable codes, and the HTTP-status mapping.

The chat API turns these into error responses by `code`, so the codes are a
contract: add new ones, never rename. Messages are built here from status
codes and vendor error text with every credential removed; vendor exception
objects are never chained onto them, because those carry the request and
its authorization header.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Iterable, Mapping

DETAIL_LIMIT = 300


class ProviderError(Exception):
    """A chat-model call failed; `retryable` says whether trying again may help."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retryable = retryable

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, provider={self.provider!r}, "
            f"status={self.status!r}, message={self.message!r})"
        )


class ProviderUnavailable(ProviderError):
    """The provider cannot be reached, is overloaded, or is not set up."""

    code = "provider_unavailable"


class ProviderNotConfigured(ProviderUnavailable):
    """No adapter or no configuration exists for this provider; never retried."""


class ProviderAddressRefused(ProviderError):
    """An organization's server resolves to an address Atrium will not call.

    Raised before anything is sent; `reason` is the address guard's
    (``address``, ``unresolvable``, ``scheme`` …). Never retried.
    """

    code = "provider_url_refused"

    def __init__(self, message: str, *, provider: str, reason: str) -> None:
        super().__init__(message, provider=provider)
        self.reason = reason


class ProviderRateLimited(ProviderError):
    code = "provider_rate_limited"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, status=status, retryable=True)
        self.retry_after = retry_after


class ProviderAuthFailed(ProviderError):
    code = "provider_auth_failed"


class ProviderBadRequest(ProviderError):
    code = "provider_bad_request"


class ProviderTimeout(ProviderError):
    """No answer in time. Not retried: the time is already spent."""

    code = "provider_timeout"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret from text that may have come back from a vendor."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def detail_text(detail: str | None, secrets: Iterable[str]) -> str:
    if not detail:
        return ""
    cleaned = " ".join(redact(detail, secrets).split())
    if len(cleaned) > DETAIL_LIMIT:
        cleaned = cleaned[:DETAIL_LIMIT] + "…"
    return f": {cleaned}"


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Read `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None:
            continue
        seconds: float | None
        try:
            seconds = float(raw) / divisor
        except ValueError:
            seconds = _seconds_until(raw)
        if seconds is not None and math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _seconds_until(http_date: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_status(
    *,
    provider: str,
    status: int,
    headers: Mapping[str, str],
    detail: str | None,
    secrets: Iterable[str],
) -> ProviderError:
    """Map an HTTP error answer to a typed error.

    429 and 5xx are retryable; no other 4xx is, since sending the same
    request again gets the same answer.
    """
    secrets = tuple(secrets)
    if status in (401, 403):
        # Vendors echo part of a rejected key in this message: never pass it on.
        return ProviderAuthFailed(
            f"{provider} rejected the credentials (HTTP {status})",
            provider=provider,
            status=status,
        )
    if status == 429:
        return ProviderRateLimited(
            f"{provider} rate limit reached{detail_text(detail, secrets)}",
            provider=provider,
            retry_after=parse_retry_after(headers),
        )
    if status == 408:
        return ProviderTimeout(
            f"{provider} timed out (HTTP 408)", provider=provider, status=status
        )
    if status in (503, 529):
        return ProviderUnavailable(
            f"{provider} is unavailable (HTTP {status}){detail_text(detail, secrets)}",
            provider=provider,
            status=status,
            retryable=True,
        )
    if 400 <= status < 500:
        return ProviderBadRequest(
            f"{provider} refused the request (HTTP {status})"
            f"{detail_text(detail, secrets)}",
            provider=provider,
            status=status,
        )
    return ProviderError(
        f"{provider} failed (HTTP {status}){detail_text(detail, secrets)}",
        provider=provider,
        status=status,
        retryable=status >= 500,
    )
