"""The remembered identifier parse behind ``canonical_identifier`` (app/domain/epcis.py, ``_remembered_identifier``:
an LRU of parsed identifiers the EPCIS capture path reads two or three times a document): its answers are the
uncached parse's, hit or miss; it never holds more than its size; it drops the least recently used entry first; a
refused identifier and a text longer than ``_REMEMBERED_CHARS`` are not kept.

Each test empties the cache first (a process-wide cache: only time is lost by that)."""

from __future__ import annotations

import dataclasses

import pytest

from app.domain import epcis
from app.domain.epcis import Identifier, canonical_identifier
from app.domain.errors import InvalidCode

CACHE = epcis._remembered_identifier
TEXTS = [
    "urn:epc:id:sgtin:0614141.107346.2017",
    "urn:epc:id:sscc:0614141.1234567890",
    "urn:epc:id:sgln:0614141.12345.400",
    "https://example.com/01/10614141073464/21/2017",
    "https://example.com/01/04012345123456/10/998877",
    "https://example.com/01/04012345123456",
    "https://example.com/414/0614141123452/254/A.B%2FC",
    "https://example.com/417/0614141123452",
    "https://example.com/00/106141412345678908",
    "https://passport.example/cn/81234561234567890123",
    "https://example.com/8004/0614141ABC",
    "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    "just a word",
]


def _size() -> int:
    maxsize = CACHE.cache_parameters()["maxsize"]
    assert isinstance(maxsize, int) and maxsize > 0  # bounded: an unbounded cache (maxsize None) fails here
    return maxsize


def _serial(i: int) -> str:
    return f"urn:epc:id:sgtin:0614141.107346.S{i}"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    CACHE.cache_clear()


@pytest.mark.parametrize("text", TEXTS)
def test_a_miss_and_a_hit_answer_as_the_uncached_parse(text):
    expected = epcis._identifier(text)
    before = CACHE.cache_info()
    miss = canonical_identifier(text)
    after_miss = CACHE.cache_info()
    hit = canonical_identifier(text)
    after_hit = CACHE.cache_info()
    assert miss == expected and hit == expected
    assert (after_miss.misses, after_miss.hits) == (before.misses + 1, before.hits)
    assert (after_hit.misses, after_hit.hits) == (after_miss.misses, after_miss.hits + 1)
    assert after_hit.currsize == before.currsize + 1


def test_many_texts_in_the_cache_at_once_each_keep_their_own_answer():
    expected = [epcis._identifier(t) for t in TEXTS]
    assert [canonical_identifier(t) for t in TEXTS] == expected  # misses
    assert [canonical_identifier(t) for t in reversed(TEXTS)] == expected[::-1]  # hits
    assert CACHE.cache_info().currsize == len(TEXTS) and CACHE.cache_info().hits == len(TEXTS)


def test_surrounding_space_is_stripped_before_the_lookup():
    first = canonical_identifier(TEXTS[0])
    again = canonical_identifier(f"  {TEXTS[0]}\n")
    assert again == first == epcis._identifier(TEXTS[0])
    assert CACHE.cache_info().currsize == 1 and CACHE.cache_info().hits == 1


def test_a_remembered_answer_cannot_be_changed_by_a_caller():
    """Every caller of a text gets the same object: it must be immutable, or one caller's change is everyone's."""
    found = canonical_identifier(TEXTS[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.serial = "other"  # type: ignore[misc]
    assert canonical_identifier(TEXTS[0]).serial == "2017"


def test_the_cache_never_holds_more_than_its_size_and_answers_right_past_it():
    size = _size()
    largest = 0
    for i in range(size + 200):
        assert canonical_identifier(_serial(i)).serial == f"S{i}"
        largest = max(largest, CACHE.cache_info().currsize)
    assert largest == size == CACHE.cache_info().currsize
    # past the bound, answers are still each text's own: a recent one (hit) and an evicted one (miss again)
    hits, misses = CACHE.cache_info().hits, CACHE.cache_info().misses
    assert canonical_identifier(_serial(size + 199)) == epcis._identifier(_serial(size + 199))
    assert canonical_identifier(_serial(0)) == epcis._identifier(_serial(0))
    assert (CACHE.cache_info().hits, CACHE.cache_info().misses) == (hits + 1, misses + 1)


def test_the_least_recently_used_entry_goes_first():
    size = _size()
    for i in range(size):  # full: S0 oldest
        canonical_identifier(_serial(i))
    canonical_identifier(_serial(0))  # S0 used again: S1 is now the least recently used
    canonical_identifier("urn:epc:id:sgtin:0614141.107346.NEW")  # one more evicts one
    info = CACHE.cache_info()
    canonical_identifier(_serial(0))
    assert CACHE.cache_info().hits == info.hits + 1  # S0 kept although it was put in first
    canonical_identifier(_serial(2))
    assert CACHE.cache_info().hits == info.hits + 2  # S2 kept
    canonical_identifier(_serial(1))
    assert CACHE.cache_info().misses == info.misses + 1  # S1, least recently used, was dropped


def test_a_refused_identifier_is_not_kept_and_is_refused_again():
    bad = "https://example.com/01/10614141073465/21/2017"  # wrong check digit
    for _ in range(2):
        with pytest.raises(InvalidCode, match="check digit"):
            canonical_identifier(bad)
    assert CACHE.cache_info().currsize == 0


def test_a_text_longer_than_the_limit_is_parsed_every_time_not_kept():
    long = "https://example.com/01/10614141073464/21/" + "x" * epcis._REMEMBERED_CHARS
    at_limit = ("https://example.com/01/10614141073464/21/" + "y" * epcis._REMEMBERED_CHARS)[: epcis._REMEMBERED_CHARS]
    assert (
        canonical_identifier(long)
        == epcis._identifier(long)
        == Identifier(
            long.replace("example.com", "id.gs1.org"), gtin="10614141073464", serial="x" * epcis._REMEMBERED_CHARS
        )
    )
    assert CACHE.cache_info().currsize == 0 and CACHE.cache_info().misses == 0  # not even looked up
    assert canonical_identifier(at_limit) == epcis._identifier(at_limit)
    assert CACHE.cache_info().currsize == 1
