"""Refusal texts of medical-insurance settlement (app/domain/settlement.py; issue 21, mutation testing)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.custody import Refused
from app.domain.errors import InvalidInput
from app.domain.settlement import Settled, SettlementIn, check_settlement, next_part

AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_an_unknown_scheme_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_settlement(SettlementIn("cms", "R1"))
    assert caught.value.detail == "settlement.scheme must be one of nhsa, got 'cms'"
    assert caught.value.code == "invalid_settlement"


def test_an_empty_reference_is_refused_saying_what_it_is() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_settlement(SettlementIn("nhsa", " "))
    assert caught.value.detail == "settlement.ref is empty: the insurer's settlement reference"
    assert caught.value.code == "invalid_settlement"


@pytest.mark.parametrize(
    ("region", "detail"),
    [
        (
            "CN-11",
            "this code was already settled with medical insurance on 2026-12-01T09:30:00+00:00 in CN-11: "
            "a code is settled once",
        ),
        (
            None,
            "this code was already settled with medical insurance on 2026-12-01T09:30:00+00:00: a code is settled once",
        ),
        (
            "",
            "this code was already settled with medical insurance on 2026-12-01T09:30:00+00:00: a code is settled once",
        ),
    ],
)
def test_a_second_settlement_is_refused_with_the_whole_text(region: str | None, detail: str) -> None:
    with pytest.raises(Refused) as caught:
        next_part([Settled(0, "h1", AT, region, "R1")], split_open=False, actor="h1")
    assert caught.value.detail == detail
