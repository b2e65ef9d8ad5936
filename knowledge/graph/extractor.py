"""The offline extractor: named entities and relations without a model.

A documented heuristic, used when no model provider is configured, so that
graph search works with no keys. Per sentence:

- **Entities** are runs of capitalised words, acronyms and words with
  digits ("Acme Corp", "Bank of Lisbon", "X200"), allowing ``of``/``de``/
  ``van``/``von``/``&`` inside a run; leading and trailing stopwords and
  calendar words are dropped, and every name passes ``entity_name_valid``.
- **Relations** join consecutive entities of a sentence: the words between
  them (1-6 words, articles dropped, not only a conjunction) become the
  relation name ("acquired" → ``ACQUIRED``), and the sentence is the fact.
- **Time**: a date after "until", "till", "through" or "ended" is when the
  fact stopped holding (``invalid_at``); any other date in the sentence
  ("In 2019", "since March 2021", "on 2024-05-01") is when it started
  (``valid_at``); without one, the document's reference time is used.

Its limits: no coreference ("she", "the company"), no relation across
sentences, lower-case names are missed, and sentence-initial common words
can become entities. docs/graph.md says so; a configured model provider
replaces all of this with Graphiti's own extraction.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from knowledge.graph.names import (
    CALENDAR,
    STOPWORDS,
    entity_name_clean,
    entity_name_valid,
)

MAX_TRIPLETS_PER_TEXT = 40
MAX_FACT_LENGTH = 400
MAX_RELATION_WORDS = 6

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\n{2,}|\n(?=\s*[-*#])")
_TOKEN = re.compile(r"[^\W_][\w&'\u2019.-]*[^\W_]|[^\W_]|&", re.UNICODE)
_CONNECTORS = frozenset({"of", "de", "del", "la", "du", "van", "von", "der", "&"})
_CONJUNCTIONS = frozenset({"and", "or", "nor", "but", "then", "also", "as", "well"})
_ARTICLES = frozenset({"a", "an", "the"})
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE = re.compile(
    r"(?P<iso>\b\d{4}-\d{2}-\d{2}\b)"
    rf"|(?P<dmy>\b\d{{1,2}}\s+(?:{_MONTH})\.?\s+\d{{4}}\b)"
    rf"|(?P<mdy>\b(?:{_MONTH})\.?\s+\d{{1,2}},?\s+\d{{4}}\b)"
    rf"|(?P<my>\b(?:{_MONTH})\.?\s+\d{{4}}\b)"
    r"|(?P<y>\b(?:19|20)\d{2}\b)",
    re.IGNORECASE,
)
_END_CUES = ("until", "till", "through", "ended", "ending", "expired")


@dataclass(frozen=True)
class Triplet:
    """One extracted fact: ``source —relation→ target``, with its time."""

    source: str
    relation: str
    target: str
    fact: str
    valid_at: datetime | None
    invalid_at: datetime | None


@dataclass(frozen=True)
class _Span:
    name: str
    start: int
    end: int


def sentences(text: str) -> list[str]:
    """Split text into sentences (and list items and paragraphs)."""
    parts = _SENTENCE.split(text)
    return [re.sub(r"\s+", " ", p).strip() for p in parts if p and p.strip()]


def _name_like(token: str) -> bool:
    if token.lower() in CALENDAR:
        return False
    if token[0].isupper():
        return True
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _edge_word(token: str) -> bool:
    lowered = token.lower()
    return lowered in STOPWORDS or lowered in CALENDAR or lowered in _CONNECTORS


def entity_spans(sentence: str) -> list[_Span]:
    """The entity names of one sentence, in order."""
    tokens = list(_TOKEN.finditer(sentence))
    spans: list[_Span] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and _edge_word(run[0].group()):
            run.pop(0)
        while run and _edge_word(run[-1].group()):
            run.pop()
        if run:
            name = entity_name_clean(sentence[run[0].start() : run[-1].end()])
            if entity_name_valid(name):
                spans.append(_Span(name, run[0].start(), run[-1].end()))
        run.clear()

    for index, token in enumerate(tokens):
        text = token.group()
        gap = sentence[run[-1].end() : token.start()] if run else " "
        joined = gap.strip() == ""
        if _name_like(text) and (joined or not run):
            run.append(token)
            continue
        following = tokens[index + 1].group() if index + 1 < len(tokens) else ""
        if run and joined and text.lower() in _CONNECTORS and _name_like(following):
            run.append(token)
            continue
        close()
        if _name_like(text):
            run.append(token)
    close()
    return spans


def _parse_date(match: re.Match[str]) -> datetime | None:
    text = match.group().lower().replace(",", "").replace(".", "")
    try:
        if match.group("iso"):
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        parts = text.split()
        if match.group("dmy"):
            return datetime(int(parts[2]), _MONTHS[parts[1]], int(parts[0]), tzinfo=UTC)
        if match.group("mdy"):
            return datetime(int(parts[2]), _MONTHS[parts[0]], int(parts[1]), tzinfo=UTC)
        if match.group("my"):
            return datetime(int(parts[1]), _MONTHS[parts[0]], 1, tzinfo=UTC)
        return datetime(int(parts[0]), 1, 1, tzinfo=UTC)
    except (ValueError, KeyError):
        return None


def sentence_dates(sentence: str) -> tuple[datetime | None, datetime | None]:
    """``(valid_at, invalid_at)`` stated in a sentence, if any."""
    valid_at = invalid_at = None
    for match in _DATE.finditer(sentence):
        when = _parse_date(match)
        if when is None:
            continue
        before = sentence[: match.start()].lower().split()[-2:]
        if any(word in _END_CUES for word in before):
            invalid_at = invalid_at or when
        else:
            valid_at = valid_at or when
    return valid_at, invalid_at


def _relation(between: str) -> str | None:
    between = _DATE.sub(" ", between)
    words = [
        w.lower()
        for w in re.findall(r"[^\W\d_][\w'-]*", between)
        if w.lower() not in _ARTICLES
    ]
    if not words or len(words) > MAX_RELATION_WORDS:
        return None
    if all(w in _CONJUNCTIONS for w in words):
        return None
    name = re.sub(r"[^A-Z0-9_]", "", "_".join(words).upper())
    return name[:60] or None


def extract_triplets(text: str) -> list[Triplet]:
    """Triplets stated in ``text``, at most ``MAX_TRIPLETS_PER_TEXT``."""
    found: list[Triplet] = []
    for sentence in sentences(text):
        spans = entity_spans(sentence)
        if len(spans) < 2:
            continue
        valid_at, invalid_at = sentence_dates(sentence)
        if len(sentence) <= MAX_FACT_LENGTH:
            whole_fact: str | None = sentence
        else:
            whole_fact = None
        for left, right in itertools.pairwise(spans):
            if left.name.lower() == right.name.lower():
                continue
            relation = _relation(sentence[left.end : right.start])
            if relation is None:
                continue
            fact = whole_fact or sentence[left.start : right.end]
            found.append(
                Triplet(left.name, relation, right.name, fact, valid_at, invalid_at)
            )
            if len(found) >= MAX_TRIPLETS_PER_TEXT:
                return found
    return found
