"""The canonical JSON of a passport leaf: sorted keys, no whitespace, non-ASCII as itself, no NaN."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from app.domain.passport_leaf import PassportLeaf, canonical, is_passport_leaf, passport_leaf_bytes


def test_canonical_json() -> None:
    assert canonical({"b": "上海", "a": [1, 2.5], "c": None}) == '{"a":[1,2.5],"b":"上海","c":null}'.encode()


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_json_has_no_nan_or_infinity(number: float) -> None:
    with pytest.raises(ValueError):
        canonical({"x": number})


def test_passport_leaf_bytes() -> None:
    leaf = PassportLeaf(
        subject="01/09506000134352/10/L1",
        level="lot",
        gtin="09506000134352",
        lot="L1",
        serial=None,
        version=3,
        org="maker",
        recorded_at=datetime(2026, 12, 5, 6, 7, 8, 9, tzinfo=UTC),
        passport={"name": "阿司匹林"},
    )
    assert (
        passport_leaf_bytes(leaf)
        == (
            '{"gtin":"09506000134352","kind":"passport","level":"lot","lot":"L1","org":"maker",'
            '"passport":{"name":"阿司匹林"},"recorded_at":"2026-12-05T06:07:08.000009Z","serial":null,'
            '"subject":"01/09506000134352/10/L1","v":1,"version":3}'
        ).encode()
    )
    assert is_passport_leaf({"kind": "passport"})
    assert not is_passport_leaf({"kind": "event"})
    assert not is_passport_leaf(["kind", "passport"])
