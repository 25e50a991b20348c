"""Suspect-product cases: the statuses a case moves through, who may move it, and the canonical leaf of a change.

A case is opened (``open``) by a handler of the units, their manufacturer or a regulator; it is investigated
(``investigating``), decided by a regulator (``illegitimate`` or ``cleared``) and closed by a regulator, who assigns
the incident number. Closing a case nobody decided is refused: a case ends in a decision. While a case is active
(open, investigating or decided illegitimate) its units verify as suspect (``under_investigation``) and may not be
sold or dispensed. The machine is one table, ``TRANSITIONS``: (from, to) -> the parties who may make that move.

Every change is a leaf of the log (passport_schema/case-leaf.md): the same canonical JSON as a passport leaf,
told apart by ``"kind": "case"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.domain.errors import Conflict, Forbidden, InvalidInput
from app.domain.leaf import rfc3339
from app.domain.passport_leaf import canonical


class CaseType(StrEnum):
    SUSPECT = "suspect"
    ILLEGITIMATE = "illegitimate"


class CaseStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    ILLEGITIMATE = "illegitimate"
    CLEARED = "cleared"
    CLOSED = "closed"


class Party(StrEnum):
    """How the organisation moving a case stands to it."""

    OPENER = "opener"
    MANUFACTURER = "manufacturer"  # of the case's product
    REGULATOR = "regulator"
    OTHER = "other"


S = CaseStatus
P = Party
ACTIVE = frozenset({S.OPEN, S.INVESTIGATING, S.ILLEGITIMATE})  # its units verify under_investigation
DECISIONS = frozenset({S.ILLEGITIMATE, S.CLEARED})
_REGULATOR = frozenset({P.REGULATOR})

TRANSITIONS: dict[tuple[CaseStatus, CaseStatus], frozenset[Party]] = {
    (S.OPEN, S.INVESTIGATING): frozenset({P.MANUFACTURER, P.REGULATOR}),
    (S.OPEN, S.ILLEGITIMATE): _REGULATOR,
    (S.OPEN, S.CLEARED): _REGULATOR,
    (S.INVESTIGATING, S.ILLEGITIMATE): _REGULATOR,
    (S.INVESTIGATING, S.CLEARED): _REGULATOR,
    (S.ILLEGITIMATE, S.CLOSED): _REGULATOR,
    (S.CLEARED, S.CLOSED): _REGULATOR,
}
NOTE_WRITERS = frozenset({P.OPENER, P.MANUFACTURER, P.REGULATOR})  # may add a note without a move


@dataclass(frozen=True, slots=True)
class Change:
    """A PATCH: a move (``to``), an incident number, a note; each optional."""

    to: CaseStatus | None
    incident_number: str | None
    note: str | None


def decide(current: CaseStatus, change: Change, parties: frozenset[Party], incident_number: str | None) -> CaseStatus:
    """The status after ``change``, or the refusal. ``parties``: every way the mover stands to the case;
    ``incident_number``: the one the case already has."""
    if current is S.CLOSED:
        raise Conflict("the case is closed; nothing more may change", code="case_closed")
    if change.to is None and change.incident_number is None and change.note is None:
        raise InvalidInput("send a status, an incident_number or a note", code="empty_change")
    if change.incident_number is not None and P.REGULATOR not in parties:
        raise Forbidden("only a regulator assigns the incident number", code="regulator_only")
    target = current if change.to is None or change.to is current else change.to
    if target is not current:
        allowed = TRANSITIONS.get((current, target))
        if allowed is None:
            if target is S.CLOSED:
                raise Conflict(
                    f"a case is closed only after a decision (illegitimate or cleared); it is {current}",
                    code="decision_required",
                )
            raise Conflict(f"a case cannot move from {current} to {target}", code="invalid_transition")
        if not allowed & parties:
            who = " or ".join(sorted(allowed))
            raise Forbidden(f"moving a case from {current} to {target} is for the {who}", code="not_allowed")
        if target is S.CLOSED and (change.incident_number or incident_number) is None:
            raise InvalidInput("closing a case needs its incident_number", code="incident_number_required")
    elif not NOTE_WRITERS & parties:
        raise Forbidden("only the opener, the manufacturer or a regulator writes on a case", code="not_allowed")
    return target


def may_open(*, handled: bool, manufacturer: bool, regulator: bool) -> bool:
    """A handler of the units, their manufacturer or a regulator opens a case over them."""
    return handled or manufacturer or regulator


# --- the leaf --------------------------------------------------------------------------------------------------

KIND = "case"
CASE_LEAF_VERSION = 1


@dataclass(frozen=True, slots=True)
class CaseLeaf:
    case: int
    seq: int  # 1 for the opening, then one more per change
    change: str  # "opened" | "updated"
    type: str
    status: str
    previous: str | None  # the status before (None when opened)
    gtin: str
    lots: list[str]
    serials: list[str]
    org: str  # who made the change
    recorded_at: datetime
    incident_number: str | None
    description: str | None  # on the opening only
    note: str | None


def case_leaf_document(leaf: CaseLeaf) -> dict[str, Any]:
    return {
        "kind": KIND,
        "v": CASE_LEAF_VERSION,
        "case": leaf.case,
        "seq": leaf.seq,
        "change": leaf.change,
        "type": leaf.type,
        "status": leaf.status,
        "previous": leaf.previous,
        "gtin": leaf.gtin,
        "lots": sorted(leaf.lots),
        "serials": sorted(leaf.serials),
        "org": leaf.org,
        "recorded_at": rfc3339(leaf.recorded_at),
        "incident_number": leaf.incident_number,
        "description": leaf.description,
        "note": leaf.note,
    }


def case_leaf_bytes(leaf: CaseLeaf) -> bytes:
    return canonical(case_leaf_document(leaf))
