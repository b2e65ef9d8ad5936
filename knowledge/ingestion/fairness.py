"""Per-organization fairness for bulk ingestion (DESIGN.md §6).

A bulk job's documents do not go to the ingest queue all at once: 10,000 of
them would sit ahead of every other organization's single upload, which
would wait for all of them. They wait in Redis instead, in a list per
organization, and are admitted to the queues a few at a time:

- an organization has at most ``ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION`` bulk
  documents admitted and not yet through their embedding stage (a sorted
  set of document ids per organization, scored by admission time);
- whenever one of them leaves (embedded, failed, deleted), its slot is freed
  and the organizations with waiting documents are served round-robin, one
  document each per turn, until every one has a full window or nothing
  waits;
- single uploads never wait here: they go straight to the ingest queue,
  behind at most the in-flight window of each organization, not behind
  another organization's backlog.

Admission and release are Lua scripts, atomic across processes. A release
is keyed by document id, so running it twice frees one slot once. A slot
whose document never reports back (a publish lost in a crash, a worker gone)
is reclaimed after ``ATRIUM_INGEST_STUCK_SECONDS``; the stuck-document
sweeper re-queues the document itself and serves the waiting lists, so a
lost release delays the next admission but never stops it.

Without Redis, bulk documents are queued directly (ingestion goes on,
unfairly) and a warning is logged. The keys assume one Redis server (the
scripts name keys they build, which Redis Cluster does not allow).

TODO: graph tasks are not admitted this way: a bulk job's graph tasks reach
the graph queue as its documents are embedded, and with slow model
extraction another organization's graph stage waits behind them (remove
when graph tasks get a per-organization window too).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable

import redis
from django.conf import settings
from django.db import connection, transaction

from knowledge.ingestion.pipeline import dispatch_now
from tenancy.ratelimit import client

logger = logging.getLogger(__name__)

# KEYS: ring, waiting prefix, in-flight prefix, owner hash, waiting ids.
# ARGV: now, cap, stale-before. Returns the admitted "workspace|document".
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

# KEYS: owner hash, in-flight prefix. ARGV: document id. Returns 1 if freed.
_RELEASE = """
local org = redis.call('HGET', KEYS[1], ARGV[1])
if not org then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return redis.call('ZREM', KEYS[2] .. org, ARGV[1])
"""

# KEYS: ring, the organization's waiting list, waiting ids.
# ARGV: organization, then "workspace|document" items.
_ENQUEUE = """
for i = 2, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  redis.call('SADD', KEYS[3], string.match(ARGV[i], '|(.*)$'))
end
for _, org in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if org == ARGV[1] then return 0 end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""


def _prefix() -> str:
    # One set of keys per database (concurrent test databases share Redis).
    return f"atrium:bulk:{connection.settings_dict['NAME']}:"


def _keys() -> tuple[str, str, str, str, str]:
    """The ring of organizations with waiting documents, the prefixes of the
    waiting lists and in-flight windows, document -> organization of the
    admitted ones, and the ids of the waiting ones."""
    prefix = _prefix()
    return (
        f"{prefix}ring",
        f"{prefix}waiting:",
        f"{prefix}inflight:",
        f"{prefix}owner",
        f"{prefix}waiting-ids",
    )


def bulk_enqueue(
    *,
    organization_id: uuid.UUID,
    documents: Iterable[tuple[uuid.UUID, uuid.UUID]],
) -> None:
    """Queue (workspace id, document id) pairs of a bulk job, fairly.

    Call inside the transaction that creates the documents: they wait in
    Redis once it commits, and as many as the organization's window allows
    are admitted at once.
    """
    items = [f"{workspace_id}|{document_id}" for workspace_id, document_id in documents]
    if items:
        transaction.on_commit(lambda: _enqueue_now(str(organization_id), items))


def _enqueue_now(organization_id: str, items: list[str]) -> None:
    ring, waiting, _inflight, _owner, ids = _keys()
    try:
        client().eval(
            _ENQUEUE, 3, ring, waiting + organization_id, ids, organization_id, *items
        )
    except redis.RedisError:
        logger.warning(
            "bulk fairness unavailable (Redis): queueing %s documents directly",
            len(items),
        )
        for item in items:
            workspace_id, document_id = item.split("|")
            dispatch_now(workspace_id=workspace_id, document_id=document_id)
        return
    bulk_admit()


def bulk_admit() -> int:
    """Admit waiting bulk documents into the ingest queue, round-robin.

    Returns how many were admitted. Safe to call from anywhere, any time.
    """
    ring, waiting, inflight, owner, ids = _keys()
    now = time.time()
    stale = now - int(settings.ATRIUM_INGEST_STUCK_SECONDS)
    try:
        admitted = client().eval(
            _ADMIT,
            5,
            ring,
            waiting,
            inflight,
            owner,
            ids,
            now,
            int(settings.ATRIUM_BULK_IN_FLIGHT_PER_ORGANIZATION),
            stale,
        )
    except redis.RedisError:
        logger.warning("bulk fairness unavailable (Redis): nothing admitted")
        return 0
    for entry in admitted:
        workspace_id, document_id = entry.decode().split("|")
        dispatch_now(workspace_id=workspace_id, document_id=document_id)
    return len(admitted)


def bulk_release(*, document_id: uuid.UUID | str) -> bool:
    """Free the slot of a bulk document past its embedding stage, then admit.

    A no-op (False) for documents that did not come through a bulk job, or
    whose slot was freed already.
    """
    _ring, _waiting, inflight, owner, _ids = _keys()
    try:
        freed = bool(client().eval(_RELEASE, 2, owner, inflight, str(document_id)))
    except redis.RedisError:
        logger.warning("bulk fairness unavailable (Redis): slot not released")
        return False
    if freed:
        bulk_admit()
    return freed


def bulk_waiting(document_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these documents wait for admission (the sweeper skips them).

    Without Redis: none (the sweeper then re-queues them, unfairly).
    """
    wanted = list(document_ids)
    if not wanted:
        return set()
    *_rest, ids = _keys()
    try:
        flags = client().smismember(ids, [str(d) for d in wanted])
    except redis.RedisError:
        return set()
    return {document for document, flag in zip(wanted, flags, strict=True) if flag}
