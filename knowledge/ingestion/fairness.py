"""Per-organization fairness for bulk ingestion (DESIGN.md §6).

A bulk job's documents do not go to the queues all at once: 10,000 of them
would sit ahead of every other organization's single upload, which would
wait for all of them. They pass two lanes instead, one per slow part of the
pipeline:

- the **ingest lane** admits them to the ingest queue, at most
  ``ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION`` per organization admitted and
  not yet through their embedding stage;
- the **graph lane** takes each one over when its embedding stage ends and
  admits it to the graph queue, at most
  ``ATRIUM_BULK_GRAPH_IN_FLIGHT_PER_ORGANIZATION`` per organization whose
  graph task has not finished. Model extraction is slower than embedding,
  so without this lane a bulk job's graph tasks would pile up in the graph
  queue as fast as its documents are embedded.

Each lane works the same way. Waiting documents sit in Redis, in a list per
organization; the admitted ones are a sorted set of document ids per
organization, scored by admission time. Whenever one leaves (its stage
done, failed, or the document deleted), its slot is freed and the
organizations with waiting documents are served round-robin, one document
each per turn, until every one has a full window or nothing waits. Moving
from the ingest lane to the graph lane is one step: the ingest slot is
freed and the document joins its organization's graph list together.

Single uploads never wait in a lane: they go straight to each queue, behind
at most the windows of the organizations ingesting in bulk, not behind
another organization's backlog.

Admission, release and the move between lanes are Lua scripts, atomic
across processes. A release is keyed by document id, so running it twice
frees one slot once. A slot whose document never reports back (a publish
lost in a crash, a worker gone) is reclaimed after
``ATRIUM_INGEST_STUCK_SECONDS``; the stuck-document sweeper leaves waiting
and freshly admitted documents alone, re-queues the others itself and
serves the waiting lists, so a lost release delays the next admission but
never stops it. A document whose ingest slot was reclaimed that way is no
longer known as a bulk one: its graph task is queued directly.

Without Redis, bulk documents are queued directly (ingestion goes on,
unfairly) and a warning is logged. The keys assume one Redis server (the
scripts name keys they build, which Redis Cluster does not allow).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import redis
from django.conf import settings
from django.db import connection, transaction

from tenancy.ratelimit import client

logger = logging.getLogger(__name__)

# Shared by the scripts below. ``release`` frees a document's slot in a lane
# and returns its organization (false if it held none); ``enqueue`` appends
# "workspace|document" items from ``items[first]`` on to an organization's
# waiting list and puts the organization in the ring if it is not there.
_FUNCTIONS = """
local function release(owner, inflight, document)
  local org = redis.call('HGET', owner, document)
  if not org then return false end
  redis.call('HDEL', owner, document)
  redis.call('ZREM', inflight .. org, document)
  return org
end
local function enqueue(ring, waiting, ids, org, items, first)
  for i = first, #items do
    redis.call('RPUSH', waiting .. org, items[i])
    redis.call('SADD', ids, string.match(items[i], '|(.*)$'))
  end
  for _, member in ipairs(redis.call('LRANGE', ring, 0, -1)) do
    if member == org then return end
  end
  redis.call('RPUSH', ring, org)
end
"""

# KEYS: a lane's ring, waiting prefix, in-flight prefix, owner hash, waiting
# ids. ARGV: now, cap, stale-before. Returns the admitted "workspace|document".
# Each pass serves every organization in the ring at most one document;
# passes go on until one admits nothing. An organization leaves the ring
# when nothing of it waits, and the ring keeps its rotation between calls.
_ADMIT = """
local ring, waiting, inflight, owner, ids = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, cap, stale = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local admitted = {}
local progress = true
while progress do
  progress = false
  local orgs = redis.call('LLEN', ring)
  for _ = 1, orgs do
    local org = redis.call('LPOP', ring)
    local window = inflight .. org
    for _, document in ipairs(redis.call('ZRANGEBYSCORE', window, '-inf', stale)) do
      redis.call('HDEL', owner, document)
    end
    redis.call('ZREMRANGEBYSCORE', window, '-inf', stale)
    if redis.call('ZCARD', window) < cap then
      local item = redis.call('LPOP', waiting .. org)
      if item then
        local document = string.match(item, '|(.*)$')
        redis.call('ZADD', window, now, document)
        redis.call('HSET', owner, document, org)
        redis.call('SREM', ids, document)
        table.insert(admitted, item)
        progress = true
      end
    end
    if redis.call('LLEN', waiting .. org) > 0 then
      redis.call('RPUSH', ring, org)
    end
  end
end
return admitted
"""

# KEYS: a lane's owner hash, in-flight prefix. ARGV: document id.
_RELEASE = _FUNCTIONS + "return release(KEYS[1], KEYS[2], ARGV[1])"

# KEYS: a lane's ring, waiting prefix, waiting ids.
# ARGV: organization, then "workspace|document" items.
_ENQUEUE = _FUNCTIONS + "enqueue(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV, 2)"

# KEYS: the source lane's owner hash and in-flight prefix, then the target
# lane's ring, waiting prefix and waiting ids. ARGV: document, workspace.
# Returns the organization, or false for a document the source lane did
# not hold (nothing changes then).
_HANDOFF = (
    _FUNCTIONS
    + """
local org = release(KEYS[1], KEYS[2], ARGV[1])
if not org then return false end
enqueue(KEYS[3], KEYS[4], KEYS[5], org, {ARGV[2] .. '|' .. ARGV[1]}, 1)
return org
"""
)

# KEYS: a lane's waiting ids, owner hash, in-flight prefix.
# ARGV: admitted-after (a time, or "none"), then document ids. Returns a
# 0/1 flag per document: waiting, or admitted after that time.
_HELD = """
local after = tonumber(ARGV[1])
local flags = {}
for i = 2, #ARGV do
  local flag = redis.call('SISMEMBER', KEYS[1], ARGV[i])
  if flag == 0 and after then
    local org = redis.call('HGET', KEYS[2], ARGV[i])
    local score = org and redis.call('ZSCORE', KEYS[3] .. org, ARGV[i])
    if score and tonumber(score) > after then flag = 1 end
  end
  flags[i - 1] = flag
end
return flags
"""


class LaneKeys(NamedTuple):
    """A lane's keys: the ring of organizations with waiting documents, the
    prefixes of the waiting lists and in-flight windows, document ->
    organization of the admitted ones, and the ids of the waiting ones."""

    ring: str
    waiting: str
    inflight: str
    owner: str
    ids: str


@dataclass(frozen=True)
class Lane:
    """One queue's admission: its keys, its window setting and its task."""

    name: str
    key_part: str
    window_setting: str
    send: Callable[[str, str], None]

    def keys(self) -> LaneKeys:
        prefix = _prefix() + self.key_part
        return LaneKeys(
            ring=f"{prefix}ring",
            waiting=f"{prefix}waiting:",
            inflight=f"{prefix}inflight:",
            owner=f"{prefix}owner",
            ids=f"{prefix}waiting-ids",
        )

    def window(self) -> int:
        return int(getattr(settings, self.window_setting))


def _ingest_send(workspace_id: str, document_id: str) -> None:
    from knowledge import tasks  # knowledge.tasks imports this module

    tasks.ingest_document.delay(workspace_id, document_id)


def _graph_send(workspace_id: str, document_id: str) -> None:
    from knowledge import tasks  # knowledge.tasks imports this module

    tasks.graph_document.delay(workspace_id, document_id)


# The ingest lane keeps the keys it had before the graph lane existed, so
# documents waiting in Redis across an upgrade keep their place.
INGEST = Lane(
    name="ingest",
    key_part="",
    window_setting="ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION",
    send=_ingest_send,
)
GRAPH = Lane(
    name="graph",
    key_part="graph:",
    window_setting="ATRIUM_BULK_GRAPH_IN_FLIGHT_PER_ORGANIZATION",
    send=_graph_send,
)
LANES = (INGEST, GRAPH)


def _prefix() -> str:
    # One set of keys per database (concurrent test databases share Redis).
    return f"atrium:bulk:{connection.settings_dict['NAME']}:"


def bulk_enqueue(
    *,
    organization_id: uuid.UUID,
    documents: Iterable[tuple[uuid.UUID, uuid.UUID]],
) -> None:
    """Queue (workspace id, document id) pairs of a bulk job, fairly.

    Call inside the transaction that creates the documents: they wait in
    the ingest lane once it commits, and as many as the organization's
    window allows are admitted at once.
    """
    items = [f"{workspace_id}|{document_id}" for workspace_id, document_id in documents]
    if items:
        transaction.on_commit(lambda: _enqueue_now(str(organization_id), items))


def _enqueue_now(organization_id: str, items: list[str]) -> None:
    keys = INGEST.keys()
    try:
        client().eval(
            _ENQUEUE, 3, keys.ring, keys.waiting, keys.ids, organization_id, *items
        )
    except redis.RedisError:
        logger.warning(
            "bulk fairness unavailable (Redis): queueing %s documents directly",
            len(items),
        )
        for item in items:
            workspace_id, document_id = item.split("|")
            INGEST.send(workspace_id, document_id)
        return
    _admit(INGEST)


def graph_enqueue(*, workspace_id: uuid.UUID, document_id: uuid.UUID) -> None:
    """Queue the graph task of a document whose embedding stage ends.

    Call inside the transaction that closes the stage. Once it commits, a
    bulk document leaves the ingest lane (its slot there is freed) and waits
    its organization's turn in the graph lane; any other document goes
    straight to the graph queue.
    """
    workspace, document = str(workspace_id), str(document_id)
    transaction.on_commit(lambda: _graph_enqueue_now(workspace, document))


def _graph_enqueue_now(workspace_id: str, document_id: str) -> None:
    source, target = INGEST.keys(), GRAPH.keys()
    try:
        organization = client().eval(
            _HANDOFF,
            5,
            source.owner,
            source.inflight,
            target.ring,
            target.waiting,
            target.ids,
            document_id,
            workspace_id,
        )
    except redis.RedisError:
        logger.warning(
            "bulk fairness unavailable (Redis): graph task of document %s queued"
            " directly",
            document_id,
        )
        organization = None
    if not organization:
        GRAPH.send(workspace_id, document_id)
        return
    bulk_admit()


def _admit(lane: Lane) -> int:
    keys = lane.keys()
    now = time.time()
    stale = now - int(settings.ATRIUM_INGEST_STUCK_SECONDS)
    try:
        admitted = client().eval(_ADMIT, 5, *keys, now, lane.window(), stale)
    except redis.RedisError:
        logger.warning(
            "bulk fairness unavailable (Redis): nothing admitted to the %s queue",
            lane.name,
        )
        return 0
    for entry in admitted:
        workspace_id, document_id = entry.decode().split("|")
        lane.send(workspace_id, document_id)
    return len(admitted)


def bulk_admit() -> int:
    """Admit waiting bulk documents into every lane's queue, round-robin.

    Returns how many were admitted. Safe to call from anywhere, any time.
    """
    return sum(_admit(lane) for lane in LANES)


def bulk_release(*, document_id: uuid.UUID | str, lane: Lane = INGEST) -> bool:
    """Free a bulk document's slot in ``lane``, then admit the next.

    Call when the document is through the lane's stage (ingest: embedded,
    failed or gone; graph: its graph task ended, whatever the outcome). A
    no-op (False) for documents that did not come through a bulk job, or
    whose slot was freed already.
    """
    keys = lane.keys()
    try:
        freed = bool(
            client().eval(_RELEASE, 2, keys.owner, keys.inflight, str(document_id))
        )
    except redis.RedisError:
        logger.warning(
            "bulk fairness unavailable (Redis): %s slot not released", lane.name
        )
        return False
    if freed:
        _admit(lane)
    return freed


def bulk_held(
    document_ids: Iterable[uuid.UUID], *, admitted_after: float | None = None
) -> set[uuid.UUID]:
    """Which of these documents wait in a lane, or were admitted since then.

    ``admitted_after`` is a Unix time; without it only waiting documents
    count. The sweeper leaves these alone: a waiting document is not stuck,
    and a document admitted after the sweeper's cutoff has its task queued
    even if it waited longer than that. Without Redis: none (the sweeper
    then re-queues them, unfairly).
    """
    wanted = list(document_ids)
    if not wanted:
        return set()
    after = "none" if admitted_after is None else repr(admitted_after)
    held: set[uuid.UUID] = set()
    for lane in LANES:
        keys = lane.keys()
        try:
            flags = client().eval(
                _HELD, 3, keys.ids, keys.owner, keys.inflight, after, *map(str, wanted)
            )
        except redis.RedisError:
            return set()
        held.update(d for d, flag in zip(wanted, flags, strict=True) if flag)
    return held
