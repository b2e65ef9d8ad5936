"""Which entity names may enter the graph.

FalkorDB 4.16.3 segfaults when Graphiti's exact-name lookup includes a
stopword name ("The", "a", "If", "NOT"), taking every workspace's graph
down with it. Every name from either extractor passes ``entity_name_valid``
before Graphiti sees it.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    """
    a about above after again against all also am an and any are as at be
    because been before being below between both but by can could did do does
    doing down during each either else ever every few for from further had has
    have having he her here hers herself him himself his how however i if in
    into is it its itself just least less let like may me might more most must
    my myself neither no nor not now of off on once one only or other ought our
    ours ourselves out over own per same shall she should since so some such
    than that the their theirs them themselves then there these they this
    those though through thus to too under until up upon us very via was we
    were what when where whether which while who whom whose why will with
    within without would yet you your yours yourself yourselves
    yes ok okay note see also etc e.g i.e mr mrs ms dr
    """
)

# Capitalised words that are calendar words, not things.
CALENDAR = _words(
    """
    january february march april may june july august september october
    november december jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday today yesterday
    tomorrow
    """
)

_WORD = re.compile(r"[^\W_]", re.UNICODE)
MAX_NAME_LENGTH = 120


def entity_name_clean(name: str) -> str:
    """Collapse whitespace and strip surrounding punctuation from a name."""
    return re.sub(r"\s+", " ", name).strip(" \t\n\"'`.,;:!?()[]{}<>-\u2013\u2014")


def entity_name_valid(name: str) -> bool:
    """Whether ``name`` may become an entity: not a stopword, not noise.

    Refused: empty names, names of one character, names made only of
    stopwords or calendar words, names with no letter or digit, and names
    longer than ``MAX_NAME_LENGTH``.
    """
    cleaned = entity_name_clean(name)
    if len(cleaned) < 2 or len(cleaned) > MAX_NAME_LENGTH:
        return False
    if not _WORD.search(cleaned):
        return False
    words = [w.lower().strip(".,;:'\"") for w in cleaned.split()]
    return not all(w in STOPWORDS or w in CALENDAR or not w for w in words)
