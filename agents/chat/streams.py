"""Server-sent events of an answer, kept in Redis so a reconnect can resume.

Each streamed answer has an event log: a Redis stream under a key naming
its workspace and answer id, holding every event with its sequence number,
and a small hash saying whose answer it is. Both expire
``ATRIUM_CHAT_STREAM_TTL`` seconds after the last event. A client that lost
the connection sends the id of the last event it saw (``Last-Event-ID:
<answer id>:<sequence>``) and gets the events after it, then the rest of
the answer as it is written, whether the answer is still being produced or
already done.

Redis is a convenience here, not a dependency: if it fails, the answer is
still streamed and stored, only resuming it is not possible.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from tenancy.context import Principal

logger = logging.getLogger(__name__)

TERMINAL = ("done", "error")
EVENT_ID = re.compile(r"^([0-9a-fA-F-]{36}):(\d{1,9})$")
# How long a reader waits for the next event of an answer in flight before it
# gives up: a model's turn can take this long, a dead producer takes forever.
BLOCK_MS = 1000

_client: redis.Redis | None = None
_client_lock = threading.Lock()


def client() -> redis.Redis:
    global _client
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(
                settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=1
            )
        return _client


def owner_of(principal: Principal) -> str:
    """Who may resume an answer: the key or user that asked for it."""
    if principal.is_api_key:
        return f"key:{principal.api_key_id}"
    return f"user:{principal.user_id}"


def sse(answer_id: uuid.UUID | str, seq: int, kind: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, default=str)
    return f"id: {answer_id}:{seq}\nevent: {kind}\ndata: {payload}\n\n".encode()


def parse_event_id(value: str) -> tuple[uuid.UUID, int] | None:
    match = EVENT_ID.match(value.strip())
    if match is None:
        return None
    try:
        return uuid.UUID(match.group(1)), int(match.group(2))
    except ValueError:
        return None


@dataclass
class EventLog:
    workspace_id: uuid.UUID
    answer_id: uuid.UUID
    # Set after a failed write: the rest of the answer is not logged (one
    # warning, not one per token).
    broken: bool = False

    @property
    def key(self) -> str:
        return f"atrium:chat:stream:{self.workspace_id}:{self.answer_id}"

    @property
    def meta_key(self) -> str:
        return self.key + ":meta"

    def open(self, owner: str) -> None:
        self._write(lambda pipe: pipe.hset(self.meta_key, mapping={"owner": owner}))

    def append(self, seq: int, kind: str, data: dict[str, Any]) -> None:
        fields = {"seq": seq, "event": kind, "data": json.dumps(data, default=str)}
        self._write(lambda pipe: pipe.xadd(self.key, fields))  # type: ignore[arg-type]

    def _write(self, command: Any) -> None:
        if self.broken:
            return
        ttl = int(settings.ATRIUM_CHAT_STREAM_TTL)
        try:
            pipe = client().pipeline()
            command(pipe)
            pipe.expire(self.key, ttl)
            pipe.expire(self.meta_key, ttl)
            pipe.execute()
        except redis.RedisError as error:
            self.broken = True
            logger.warning(
                "chat stream %s not kept for resuming: %s",
                self.answer_id,
                type(error).__name__,
            )

    def owner(self) -> str | None:
        value = client().hget(self.meta_key, "owner")
        return value.decode() if isinstance(value, bytes) else None

    def replay(self, after: int, *, idle_seconds: float) -> Iterator[bytes]:
        """Events after sequence ``after``, then new ones until the answer ends.

        Stops with an ``error`` event (``stream_interrupted``) when nothing
        new arrives for ``idle_seconds``: whoever was producing the answer is
        gone.
        """
        last_id = "0-0"
        last_seq = after
        waited = 0.0
        while True:
            entries: Any = client().xread(
                {self.key: last_id}, count=500, block=BLOCK_MS
            )
            if not entries:
                waited += BLOCK_MS / 1000
                if waited >= idle_seconds:
                    yield sse(
                        self.answer_id,
                        last_seq + 1,
                        "error",
                        {
                            "code": "stream_interrupted",
                            "message": "The answer stopped before it was finished.",
                        },
                    )
                    return
                continue
            waited = 0.0
            for entry_id, fields in entries[0][1]:
                last_id = entry_id
                seq = int(fields[b"seq"])
                kind = fields[b"event"].decode()
                if seq <= after:
                    if kind in TERMINAL:
                        return  # the client saw the end already
                    continue
                last_seq = seq
                yield sse(self.answer_id, seq, kind, json.loads(fields[b"data"]))
                if kind in TERMINAL:
                    return
