"""What is known about the request or task at hand, for its one log line.

A :class:`WorkRecord` is opened when a request or a task starts and read
when it ends. Code in between adds facts with :func:`annotate`, which costs
a context-variable lookup and a few assignments, and does nothing outside a
request or task.
"""

from __future__ import annotations

import contextvars
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# An incoming X-Request-ID is kept only if it looks like an identifier, so a
# client cannot inject text (or a secret it pasted) into every log line.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{7,127}$")


def request_id_accept(candidate: str | None) -> str:
    """The caller's request id if it is sane, else a new random one."""
    if candidate and REQUEST_ID_PATTERN.match(candidate):
        return candidate
    return uuid.uuid4().hex


@dataclass
class WorkRecord:
    """The facts of one request or task that its log line and metrics report."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    organization_id: str = ""
    workspace_id: str = ""
    agent_id: str = ""
    session_id: str = ""
    user_id: str = ""
    api_key_prefix: str = ""
    tokens: int = 0
    tools_called: list[str] = field(default_factory=list)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def tenant_fields(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "organization_id": self.organization_id or None,
            "workspace_id": self.workspace_id or None,
            "agent_id": self.agent_id or None,
            "session_id": self.session_id or None,
            "user_id": self.user_id or None,
            "api_key_prefix": self.api_key_prefix or None,
        }


_current: contextvars.ContextVar[WorkRecord | None] = contextvars.ContextVar(
    "atrium_work_record", default=None
)


def current_record() -> WorkRecord | None:
    return _current.get()


def record_enter(record: WorkRecord) -> contextvars.Token[WorkRecord | None]:
    """Make ``record`` current until :func:`record_leave` with the token."""
    return _current.set(record)


def record_leave(token: contextvars.Token[WorkRecord | None]) -> None:
    _current.reset(token)


@contextmanager
def recording(record: WorkRecord) -> Iterator[WorkRecord]:
    """Make ``record`` the current one for the block."""
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def annotate(
    *,
    organization_id: object = None,
    workspace_id: object = None,
    agent_id: object = None,
    session_id: object = None,
    user_id: object = None,
    api_key_prefix: str | None = None,
    tokens: int = 0,
    tools: Iterable[str] = (),
) -> None:
    """Add facts to the current request's or task's log line.

    Identifiers replace what was known; ``tokens`` adds up and ``tools``
    extends the list of tools called (in order, each once). Only these
    fields exist, so no caller can put document text or a secret into the
    line by accident.
    """
    record = _current.get()
    if record is None:
        return
    if organization_id is not None:
        record.organization_id = _text(organization_id)
    if workspace_id is not None:
        record.workspace_id = _text(workspace_id)
    if agent_id is not None:
        record.agent_id = _text(agent_id)
    if session_id is not None:
        record.session_id = _text(session_id)
    if user_id is not None:
        record.user_id = _text(user_id)
    if api_key_prefix is not None:
        record.api_key_prefix = api_key_prefix
    record.tokens += int(tokens)
    for name in tools:
        if name not in record.tools_called:
            record.tools_called.append(name)
