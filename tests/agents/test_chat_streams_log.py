"""The Redis event log behind resumable answers, read while it is written."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from agents.chat.streams import EventLog, client, parse_event_id


@pytest.fixture
def log():  # type: ignore[no-untyped-def]
    made = EventLog(uuid.uuid4(), uuid.uuid4())
    made.open("key:test")
    yield made
    client().delete(made.key, made.meta_key)


def events(raw: list[bytes]) -> list[tuple[str, str]]:
    parsed = []
    for chunk in raw:
        fields = dict(
            line.split(": ", 1) for line in chunk.decode().strip().split("\n")
        )
        parsed.append((fields["id"].split(":")[1], fields["event"]))
    return parsed


def test_a_reader_follows_an_answer_still_being_written(log) -> None:  # type: ignore[no-untyped-def]
    log.append(1, "session", {})
    log.append(2, "token", {"text": "a"})
    reader = log.replay(0, idle_seconds=60)
    seen = [next(reader), next(reader)]  # all there is so far

    def produce() -> None:
        log.append(3, "token", {"text": "b"})
        log.append(4, "done", {"response": "ab"})

    writer = threading.Thread(target=produce)
    writer.start()
    seen += list(reader)  # blocks until the writer's events arrive
    writer.join()

    assert events(seen) == [
        ("1", "session"),
        ("2", "token"),
        ("3", "token"),
        ("4", "done"),
    ]
    assert json.loads(seen[-1].decode().split("data: ", 1)[1]) == {"response": "ab"}


def test_a_reader_gives_up_on_an_answer_nobody_finishes(log) -> None:  # type: ignore[no-untyped-def]
    log.append(1, "session", {})

    seen = events(list(log.replay(0, idle_seconds=1)))

    assert seen == [("1", "session"), ("2", "error")]


def test_the_log_remembers_whose_answer_it_is_and_expires(settings, log) -> None:  # type: ignore[no-untyped-def]
    log.append(1, "session", {})

    assert log.owner() == "key:test"
    assert 0 < client().ttl(log.key) <= settings.ATRIUM_CHAT_STREAM_TTL
    assert 0 < client().ttl(log.meta_key) <= settings.ATRIUM_CHAT_STREAM_TTL
    assert EventLog(log.workspace_id, uuid.uuid4()).owner() is None


@pytest.mark.parametrize(
    "value", ["", "x", "1", f"{uuid.uuid4()}", f"{uuid.uuid4()}:-1", "a" * 36 + ":1"]
)
def test_malformed_event_ids_are_refused(value: str) -> None:
    assert parse_event_id(value) is None


def test_an_event_id_names_the_answer_and_the_sequence() -> None:
    answer = uuid.uuid4()

    assert parse_event_id(f"{answer}:17") == (answer, 17)
