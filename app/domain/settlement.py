"""Medical-insurance settlement of a drug by its scanned code (NHSA, 2025): one settlement per code.

A code already settled is refused (``already_settled``) and raises ``repeat_settlement``; a split pack (拆零) is
dispensed in parts by the institution that opened it, one settlement per part (parts 1, 2, ...; a whole pack is
part 0). See docs/cn-drug-codes.md for the notices this follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.custody import Refused
from app.domain.errors import InvalidInput

SCHEMES = ("nhsa",)
WHOLE_PACK = 0


@dataclass(frozen=True, slots=True)
class SettlementIn:
    """What a sale or dispensing carries: the scheme and the insurer's reference of the settlement."""

    scheme: str
    ref: str


@dataclass(frozen=True, slots=True)
class Settled:
    """A settlement already recorded for the unit."""

    part: int
    org_id: str
    at: datetime
    region: str | None
    ref: str


def check_settlement(settlement: SettlementIn) -> SettlementIn:
    if settlement.scheme not in SCHEMES:
        raise InvalidInput(
            f"settlement.scheme must be one of {', '.join(SCHEMES)}, got {settlement.scheme!r}",
            code="invalid_settlement",
        )
    if not settlement.ref.strip():
        raise InvalidInput("settlement.ref is empty: the insurer's settlement reference", code="invalid_settlement")
    return settlement


def next_part(earlier: Sequence[Settled], *, split_open: bool, actor: str) -> int:
    """The part this settlement takes, or ``already_settled`` (with the first settlement, for its alert)."""
    if not earlier:
        return WHOLE_PACK + 1 if split_open else WHOLE_PACK
    if split_open and all(s.part != WHOLE_PACK and s.org_id == actor for s in earlier):
        return max(s.part for s in earlier) + 1
    first = min(earlier, key=lambda s: (s.at, s.part))
    raise Refused(
        f"this code was already settled with medical insurance on {first.at.isoformat()}"
        + (f" in {first.region}" if first.region else "")
        + ": a code is settled once",
        code="already_settled",
        first_settlement=first_json(first),
    )


def first_json(first: Settled) -> dict[str, Any]:
    return {"at": first.at.isoformat(), "region": first.region, "part": first.part}
