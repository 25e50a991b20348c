"""Insurance settlement by scanned code (NHSA): once per code, once per part of a split pack, refusals that say when."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.domain.custody import Refused
from app.domain.errors import InvalidInput
from app.domain.settlement import Settled, SettlementIn, check_settlement, next_part

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def settled(part: int, org: str = "h1", at: datetime = AT, region: str | None = "CN-11") -> Settled:
    return Settled(part, org, at, region, f"ref-{part}")


def test_a_whole_pack_is_part_zero_and_a_split_pack_counts_its_parts() -> None:
    assert next_part([], split_open=False, actor="p1") == 0
    assert next_part([], split_open=True, actor="h1") == 1
    assert next_part([settled(1), settled(2)], split_open=True, actor="h1") == 3


@pytest.mark.parametrize(
    ("earlier", "split_open", "actor"),
    [
        ([settled(0)], False, "h1"),  # settled whole, sold again
        ([settled(0)], True, "h1"),  # settled whole, then opened: no part settlement
        ([settled(1)], True, "h2"),  # parts belong to the institution that opened the pack
        ([settled(1)], False, "h1"),  # a pack settled in parts is not settled whole later
    ],
)
def test_a_code_settled_is_refused_with_the_first_settlement(
    earlier: list[Settled], split_open: bool, actor: str
) -> None:
    with pytest.raises(Refused) as refused:
        next_part(earlier, split_open=split_open, actor=actor)
    assert refused.value.code == "already_settled"
    assert refused.value.extra["first_settlement"] == {"at": AT.isoformat(), "region": "CN-11", "part": earlier[0].part}
    assert "2026-12-01T08:00:00+00:00 in CN-11" in refused.value.detail


def test_the_first_settlement_is_the_earliest() -> None:
    later = settled(2, at=datetime(2026, 12, 2, tzinfo=UTC), region="CN-44")
    with pytest.raises(Refused) as refused:
        next_part([later, settled(1, region=None)], split_open=True, actor="h2")
    assert refused.value.extra["first_settlement"]["region"] is None
    assert refused.value.extra["first_settlement"]["part"] == 1


@pytest.mark.parametrize(("scheme", "ref"), [("cms", "R1"), ("NHSA", "R1"), ("nhsa", "  ")])
def test_only_nhsa_settlements_with_a_reference(scheme: str, ref: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_settlement(SettlementIn(scheme, ref))
    assert refused.value.code == "invalid_settlement"
    assert check_settlement(SettlementIn("nhsa", "R1")) == SettlementIn("nhsa", "R1")
