"""Hypothesis strategies the property tests share: GS1 identifiers and codes, log leaves, Merkle tree positions.

Built from the specifications, not from the code under test (dates become YYMMDD with strftime, check digits come
from app.domain.identifiers.check_digit, which tests/unit/test_identifiers.py checks against published examples).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from app.domain.custody import Action, Status
from app.domain.identifiers import CSET82, UnitCode, check_digit
from app.domain.leaf import LeafEvent, LeafItem

# ------------------------------------------------------------------------------------------------- GS1 identifiers

DIGIT = st.sampled_from("0123456789")
CSET82_TEXT = st.text(alphabet=st.sampled_from(sorted(CSET82)), min_size=1, max_size=20)
BASE64URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
YYMMDD = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)).map(lambda d: d.strftime("%y%m%d"))
BASES = st.sampled_from(
    [
        "https://id.example.com",
        "https://id.example.com/",
        "http://localhost:8000",
        "https://passport.example.cn/some/prefix",
        "HTTPS://ID.EXAMPLE.ORG/dl/",
    ]
)


@st.composite
def gtins(draw: st.DrawFn) -> str:
    """Any GTIN-14 with a correct check digit."""
    body = "".join(draw(st.lists(DIGIT, min_size=13, max_size=13)))
    return body + check_digit(body)


@st.composite
def unit_codes(draw: st.DrawFn, *, with_signature: bool = True) -> UnitCode:
    """A unit's code: GTIN, serial, maybe a lot, an expiry and (unless ``with_signature=False``) a signature."""
    return UnitCode(
        gtin=draw(gtins()),
        serial=draw(CSET82_TEXT),
        lot=draw(st.none() | CSET82_TEXT),
        expiry=draw(st.none() | YYMMDD),
        signature=draw(st.none() | st.text(alphabet=st.sampled_from(BASE64URL_CHARS), min_size=88, max_size=88))
        if with_signature
        else None,
    )


# ------------------------------------------------------------------------------------------------- log leaves

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)  # any Unicode scalar value
MAYBE_TEXT = st.none() | TEXT
OFFSETS = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
)
AWARE = st.datetimes(min_value=datetime(1001, 1, 2), max_value=datetime(9998, 12, 30), timezones=OFFSETS)
STATUS = st.sampled_from([s.value for s in Status])


@st.composite
def custody_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A custody as a leaf carries it, its keys in any insertion order (which must not matter)."""
    values = {
        "status": draw(STATUS),
        "holder": draw(MAYBE_TEXT),
        "to": draw(MAYBE_TEXT),
        "previous": draw(st.none() | STATUS),
    }
    order = draw(st.permutations(list(values)))
    return {k: values[k] for k in order}


LEAF_ITEMS = st.lists(st.builds(LeafItem, MAYBE_TEXT, MAYBE_TEXT, custody_dicts(), custody_dicts()), max_size=5)
LEAF_EVENTS = st.builds(
    LeafEvent,
    event_id=st.integers(min_value=1, max_value=2**63 - 1),
    org=TEXT,
    action=st.sampled_from([a.value for a in Action]),
    occurred_at=AWARE,
    recorded_at=AWARE,
    region=MAYBE_TEXT,
    to=MAYBE_TEXT,
    container=MAYBE_TEXT,
    channel=MAYBE_TEXT,
    platform=MAYBE_TEXT,
    order_ref=MAYBE_TEXT,
    prescription=MAYBE_TEXT,
    undoes=st.none() | st.integers(min_value=1, max_value=2**63 - 1),
    items=LEAF_ITEMS,
)


# ------------------------------------------------------------------------------------------------- Merkle trees


def leaf_positions(max_size: int) -> st.SearchStrategy[tuple[int, int]]:
    """(index, size): a leaf index below a tree size of 1 to ``max_size``."""
    return st.integers(1, max_size).flatmap(lambda size: st.tuples(st.integers(0, size - 1), st.just(size)))
