"""Recall scope: which units a recall covers. A recall names a GTIN and either nothing more (every unit of the
product), some lots, some serials, or both (a unit is covered when its lot or its serial is listed)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.domain.custody import Status
from app.domain.errors import InvalidInput
from app.domain.identifiers import validate_ai_value
from app.domain.orgs import Role

CLASSES = ("I", "II", "III")  # I: may cause serious harm or death; II: temporary or reversible; III: unlikely to harm

# The states in which an organisation still holds a unit a recall covers, so that it is told to pull it: the
# custody ``ON_HAND`` states (which may be shipped or packed) and the opened and locked ones, which may not be
# shipped but are still on someone's shelf. In transit counts for the addressee, apart.
HOLDING = frozenset({Status.ISSUED, Status.HELD, Status.OPEN, Status.LOCKED, Status.RETURNED})
RECALLERS = frozenset({Role.MANUFACTURER, Role.REGULATOR})  # a product's manufacturer, or a regulator


@dataclass(frozen=True, slots=True)
class RecallScope:
    id: int
    recall_class: str
    reason: str
    lots: frozenset[str]
    serials: frozenset[str]
    instructions: str | None = None

    def covers(self, lot: str, serial: str) -> bool:
        if not self.lots and not self.serials:
            return True
        return lot in self.lots or serial in self.serials


def check_scope(lots: Iterable[str], serials: Iterable[str], recall_class: str, reason: str) -> None:
    if recall_class not in CLASSES:
        raise InvalidInput("class must be I, II or III", code="invalid_class")
    if not reason.strip():
        raise InvalidInput("a recall needs a reason", code="reason_required")
    for lot in lots:
        validate_ai_value("10", lot)
    for serial in serials:
        validate_ai_value("21", serial)


def most_severe(scopes: Iterable[RecallScope]) -> RecallScope | None:
    return min(scopes, key=lambda s: (CLASSES.index(s.recall_class), s.id), default=None)
