"""Log formatting: one JSON object per line in production, text in development.

Both formatters add the current request's or task's identifiers to every
record (see ``context``) and pass the finished line through :func:`redact`,
so a key, token or password that reached a message, an argument or a
traceback is masked before the line is written. Request bodies are never
logged: the request log line carries the route, never the path or query.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from tenancy.observability.context import current_record

MASK = "[redacted]"

# Each pattern keeps its first group and masks the rest of the match.
_SECRETS: list[tuple[re.Pattern[str], str]] = [
    # Authorization headers and bearer credentials of any kind.
    (re.compile(r"(?i)(\bbearer\s+)[^\s\"'\\,;]+"), rf"\1{MASK}"),
    (re.compile(r"(?i)(\b(?:basic|token)\s+)[A-Za-z0-9+/=._-]{12,}"), rf"\1{MASK}"),
    # Atrium keys (atr_live_…, atr_test_…) and Stripe's (sk_/pk_/rk_…): the
    # public lookup prefix (8 characters) stays, so the key can be named.
    (
        re.compile(r"\b([A-Za-z]{2,12}_(?:live|test)_[A-Za-z0-9]{8})[A-Za-z0-9]+"),
        rf"\1{MASK}",
    ),
    # Stripe webhook signing secrets and OpenAI/Anthropic-style keys.
    (re.compile(r"\b(whsec_)[A-Za-z0-9]{6,}"), rf"\1{MASK}"),
    (re.compile(r"\b(sk-)[A-Za-z0-9_-]{12,}"), rf"\1{MASK}"),
    # JSON Web Tokens.
    (re.compile(r"()\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), MASK),
    # Credentials inside URLs: scheme://user:password@host.
    (re.compile(r"(://[^/\s:@\"']*:)[^@\s/\"']+(?=@)"), rf"\1{MASK}"),
    # key=value, key: value and "key": "value" for names that hold secrets.
    (
        re.compile(
            r"(?i)(\b(?:password|passwd|secret|api[_-]?key|access[_-]?token"
            r"|refresh[_-]?token|token|authorization|cookie|sessionid|csrftoken)"
            r"\\?[\"']?\s*[:=]\s*\\?[\"']?)[^\s\"'\\,;&}]+"
        ),
        rf"\1{MASK}",
    ),
]


def redact(text: str) -> str:
    """Mask every secret-looking part of ``text``."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


# Attributes some libraries attach to records that must never be written:
# Django's request object (its repr carries the path and query string) and
# raw sockets.
_DROPPED = ("request", "socket", "color_message")

# The fields every line of a request or task carries, in order.
CONTEXT_FIELDS = (
    "request_id",
    "organization_id",
    "workspace_id",
    "agent_id",
    "session_id",
    "user_id",
    "api_key_prefix",
)


class ContextFilter(logging.Filter):
    """Stamp the current request's or task's identifiers on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        work = current_record()
        values = work.tenant_fields() if work is not None else {}
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, values.get(name))
        if not hasattr(record, "event"):
            record.event = "log"
        return True


class JsonFormatter(_JsonFormatter):
    """``{"timestamp", "level", "logger", "event", "message", …}`` per line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*_reserved(), *_DROPPED])
        super().__init__("%(message)s", *args, **kwargs)

    def add_fields(
        self,
        log_data: dict[str, Any],
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_data["timestamp"] = (
            datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["event"] = getattr(record, "event", "log")
        super().add_fields(log_data, record, message_dict)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _reserved() -> list[str]:
    from pythonjsonlogger.core import RESERVED_ATTRS

    # taskName: asyncio's, always None in synchronous code.
    return [*RESERVED_ATTRS, "taskName"]


class TextFormatter(logging.Formatter):
    """Readable lines for development, with the request's identifiers after."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = [
            f"{name}={value}"
            for name in (*CONTEXT_FIELDS, "tokens", "tools_called")
            if (value := getattr(record, name, None))
        ]
        if known:
            line += "  [" + " ".join(known) + "]"
        return redact(line)
