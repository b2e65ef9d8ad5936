"""Sliding-window rate limits in Redis, checked and counted atomically.

One Lua script checks every window a request falls under (its API key, its
workspace, its user) and records the request in all of them only if each has
room, so concurrent requests can never overshoot a limit: 50 simultaneous
requests against a limit of 10 admit exactly 10. A sliding log (a sorted set
of request times) has no boundary burst, unlike a fixed window.

When Redis cannot be reached, ordinary API requests fall back to a limiter
inside the process (each process then enforces the limits on its own share,
so a deployment of N processes admits up to N times the limit) and a warning
is logged; sign-up and log-in fail closed instead (see ``fail_closed``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

WINDOW_MS = 60_000

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local member = ARGV[2]
local allowed = 1
local remaining = 0
local retry = 0
local reset = 0
local tight = 1
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  local left = limit - count
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  local until_free = window
  if oldest[2] then until_free = window - (now - tonumber(oldest[2])) end
  if left <= 0 then
    allowed = 0
    if until_free > retry then retry = until_free end
  end
  if i == 1 or left - 1 < remaining then
    remaining = left - 1
    reset = until_free
    tight = i
  end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, window)
  end
end
return {allowed, remaining, retry, reset, tight}
"""


@dataclass(frozen=True)
class Limit:
    """At most ``per_minute`` requests in any 60 s for ``name``."""

    name: str
    per_minute: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds, when refused
    reset: int  # seconds until the tightest window frees a slot
    degraded: bool = False  # decided without Redis

    def headers(self) -> dict[str, str]:
        values = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.remaining, 0)),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            values["Retry-After"] = str(max(self.retry_after, 1))
        return values


class RateLimiterUnavailable(Exception):
    """Redis is down and the caller asked to fail closed."""


_client: redis.Redis | None = None
_client_lock = threading.Lock()
# After a failure, requests skip Redis for this long instead of each waiting
# for a connection timeout.
BREAKER_SECONDS = 5.0
_down_until = 0.0


def client() -> redis.Redis:
    global _client
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=0.25,
                socket_connect_timeout=0.25,
                retry=Retry(NoBackoff(), 0),
            )
        return _client


def available() -> bool:
    return time.monotonic() >= _down_until


def tripped() -> None:
    global _down_until
    _down_until = time.monotonic() + BREAKER_SECONDS


class _LocalWindows:
    """The in-process fallback: the same sliding log, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def hit(self, limits: list[Limit]) -> Decision:
        now = time.monotonic()
        with self._lock:
            windows = []
            for limit in limits:
                log = self._hits.setdefault(limit.name, deque())
                while log and log[0] <= now - WINDOW_MS / 1000:
                    log.popleft()
                windows.append((limit, log))
            allowed = all(len(log) < limit.per_minute for limit, log in windows)
            if allowed:
                for _limit, log in windows:
                    log.append(now)
            limit, log = min(windows, key=lambda w: w[0].per_minute - len(w[1]))
            wait = int(WINDOW_MS / 1000 - (now - log[0])) + 1 if log else 0
            return Decision(
                allowed=allowed,
                limit=limit.per_minute,
                remaining=limit.per_minute - len(log),
                retry_after=wait,
                reset=wait,
                degraded=True,
            )


_local = _LocalWindows()


def hit(limits: list[Limit], *, fail_closed: bool = False) -> Decision:
    """Count one request against every limit, or refuse it if any is full."""
    if not limits:
        raise ValueError("hit() needs at least one limit")
    keys = [f"atrium:rl:{limit.name}" for limit in limits]
    args: list[str | int] = [
        WINDOW_MS,
        uuid.uuid4().hex,
        *(limit.per_minute for limit in limits),
    ]
    try:
        if not available():
            raise redis.ConnectionError("rate limiter recently unavailable")
        allowed, remaining, retry_ms, reset_ms, tight = client().eval(
            _SCRIPT, len(keys), *keys, *args
        )
    except redis.RedisError:
        tripped()
        if fail_closed:
            logger.error("rate limiter unavailable; refusing a fail-closed request")
            raise RateLimiterUnavailable from None
        logger.warning("rate limiter unavailable; using the in-process fallback")
        return _local.hit(limits)

    return Decision(
        allowed=bool(allowed),
        limit=limits[int(tight) - 1].per_minute,
        remaining=int(remaining),
        retry_after=-(-int(retry_ms) // 1000),
        reset=-(-int(reset_ms) // 1000),
    )
