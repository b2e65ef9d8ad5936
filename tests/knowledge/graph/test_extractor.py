"""The offline extractor and the entity-name filter, without a server."""

from datetime import UTC, datetime

import pytest

from knowledge.graph.extractor import (
    MAX_TRIPLETS_PER_TEXT,
    entity_spans,
    extract_triplets,
    sentence_dates,
)
from knowledge.graph.names import STOPWORDS, entity_name_valid


def test_entities_and_the_relation_between_them():
    [triplet] = extract_triplets("In 2019, Acme Corp acquired Beta Labs.")

    assert (triplet.source, triplet.relation, triplet.target) == (
        "Acme Corp",
        "ACQUIRED",
        "Beta Labs",
    )
    assert triplet.fact == "In 2019, Acme Corp acquired Beta Labs."
    assert triplet.valid_at == datetime(2019, 1, 1, tzinfo=UTC)
    assert triplet.invalid_at is None


def test_names_with_connectors_digits_and_acronyms():
    names = [s.name for s in entity_spans("The Bank of Lisbon sold X200 units to IBM.")]

    assert names == ["Bank of Lisbon", "X200", "IBM"]


@pytest.mark.parametrize(
    ("sentence", "valid_at", "invalid_at"),
    [
        ("Bob Stone led Acme Corp until March 2021.", None, datetime(2021, 3, 1)),
        ("Since 2022-05-01 Carol Diaz runs Zeta Systems.", datetime(2022, 5, 1), None),
        ("On 5 June 2020 Dana Wu joined Kappa Group.", datetime(2020, 6, 5), None),
        (
            "From 2015 through 2018 Eli Ross chaired Sigma Fund.",
            datetime(2015, 1, 1),
            datetime(2018, 1, 1),
        ),
    ],
)
def test_dates_state_when_a_fact_held(sentence, valid_at, invalid_at):
    expected = tuple(
        d.replace(tzinfo=UTC) if d else None for d in (valid_at, invalid_at)
    )

    assert sentence_dates(sentence) == expected
    [triplet] = extract_triplets(sentence)
    assert (triplet.valid_at, triplet.invalid_at) == expected


@pytest.mark.parametrize(
    "name", ["The", "a", "If", "NOT", "the The", "May", "  ", "-", "X", "Of And", ""]
)
def test_stopword_and_noise_names_are_refused(name):
    assert not entity_name_valid(name)


@pytest.mark.parametrize("name", ["Acme", "Bank of Lisbon", "X200", "IBM", "Maria"])
def test_real_names_pass(name):
    assert entity_name_valid(name)


def test_stopword_capitals_never_become_entities():
    text = "The If NOT A. If The Acme Corp Is Not Beta Labs. NOT The Same. The."

    names = {s.name for sentence in text.split(". ") for s in entity_spans(sentence)}
    names |= {t.source for t in extract_triplets(text)}
    names |= {t.target for t in extract_triplets(text)}

    assert names
    assert not {n for n in names if n.lower() in STOPWORDS}
    assert all(entity_name_valid(n) for n in names)


def test_a_conjunction_is_not_a_relation():
    assert extract_triplets("Acme Corp and Beta Labs.") == []


def test_extraction_is_bounded_per_text():
    text = " ".join(f"Firm{n} Corp acquired Target{n} Labs." for n in range(100))

    assert len(extract_triplets(text)) == MAX_TRIPLETS_PER_TEXT
