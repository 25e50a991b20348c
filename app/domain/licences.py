"""Licences in time: when one stands, and which one an organisation's role needs to trade drugs.

A licence runs from ``valid_from`` through ``valid_until`` (whole days, UTC, both included; no end when
``valid_until`` is None) unless it was revoked: from ``revoked_at`` on it stands no more. Trade in drugs is allowed
only between authorised trading partners: the sender, the receiver and the seller each need, on the day the
event happened, a licence their role trades under. Admins and regulators (the operator, the authority) need none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from app.domain.custody import Refused
from app.domain.errors import Conflict, InvalidInput
from app.domain.orgs import LicenceKind, Role


class Standing(StrEnum):
    VALID = "valid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class LicenceTerm:
    kind: str
    valid_from: date
    valid_until: date | None = None
    revoked_at: datetime | None = None

    def standing(self, at: datetime) -> Standing:
        """What the licence is at the moment ``at`` (timezone-aware; its UTC day is the day that counts)."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return Standing.REVOKED
        day = at.date() if at.utcoffset() is None else _utc_day(at)
        if day < self.valid_from:
            return Standing.NOT_YET_VALID
        if self.valid_until is not None and day > self.valid_until:
            return Standing.EXPIRED
        return Standing.VALID


def _utc_day(at: datetime) -> date:
    offset = at.utcoffset()
    assert offset is not None
    return (at - offset).date()


def valid_kinds(terms: Iterable[LicenceTerm], at: datetime) -> frozenset[str]:
    return frozenset(t.kind for t in terms if t.standing(at) is Standing.VALID)


def check_term(valid_from: date, valid_until: date | None) -> None:
    if valid_until is not None and valid_until < valid_from:
        raise InvalidInput("valid_until must not be before valid_from", code="invalid_licence_dates")


def check_renewal(term: LicenceTerm, valid_until: date | None) -> None:
    """A renewal moves the end of a standing licence; a revoked one is granted anew, never renewed silently."""
    if term.revoked_at is not None:
        raise Conflict(
            f"the {term.kind} licence was revoked on {term.revoked_at.isoformat()}; grant a new one instead",
            code="licence_revoked",
        )
    check_term(term.valid_from, valid_until)


# The licences each role trades drugs under (any one of them will do). Roles absent need none.
TRADE_LICENCES: dict[Role, frozenset[LicenceKind]] = {
    Role.MANUFACTURER: frozenset({LicenceKind.DRUG_MANUFACTURING, LicenceKind.DRUG_WHOLESALE}),
    Role.DISTRIBUTOR: frozenset({LicenceKind.DRUG_WHOLESALE}),
    Role.RETAILER: frozenset({LicenceKind.DRUG_RETAIL, LicenceKind.MEDICAL_INSTITUTION}),
    Role.PLATFORM: frozenset({LicenceKind.ONLINE_DRUG_SALES}),
}


class Party(StrEnum):
    SENDER = "sender"
    RECEIVER = "receiver"
    SELLER = "seller"


def licence_refusal(needed: Iterable[str], terms: Iterable[LicenceTerm], at: datetime, *, whose: str) -> Refused | None:
    """The refusal when none of the ``needed`` kinds stands at ``at`` (None when one does): ``licence_expired``
    when a needed licence has run out (and no other stands), ``licence_required`` otherwise (never held, not yet
    valid, or revoked), naming why."""
    wanted = frozenset(needed)
    mine = [t for t in terms if t.kind in wanted]
    if any(t.standing(at) is Standing.VALID for t in mine):
        return None
    names = " or ".join(sorted(wanted))
    day = _utc_day(at).isoformat() if at.utcoffset() is not None else at.date().isoformat()
    by_standing = {t.standing(at): t for t in sorted(mine, key=lambda t: t.valid_from)}
    if (expired := by_standing.get(Standing.EXPIRED)) is not None:
        ended = expired.valid_until.isoformat() if expired.valid_until else "?"
        return Refused(
            f"{whose} {expired.kind} licence expired on {ended}", code="licence_expired", licence=Standing.EXPIRED
        )
    if (revoked := by_standing.get(Standing.REVOKED)) is not None:
        assert revoked.revoked_at is not None
        detail = f"{whose} {revoked.kind} licence was revoked on {revoked.revoked_at.date().isoformat()}"
        return Refused(detail, code="licence_required", licence=Standing.REVOKED)
    if (early := by_standing.get(Standing.NOT_YET_VALID)) is not None:
        detail = f"{whose} {early.kind} licence is valid only from {early.valid_from.isoformat()}, not on {day}"
        return Refused(detail, code="licence_required", licence=Standing.NOT_YET_VALID)
    return Refused(
        f"{whose} licences do not include {names}, needed to trade drugs", code="licence_required", licence="none"
    )


def trade_refusal(role: str, terms: Iterable[LicenceTerm], at: datetime, *, whose: str) -> Refused | None:
    """The refusal when an organisation of ``role`` may not trade drugs at ``at`` (None when it may)."""
    needed = TRADE_LICENCES.get(Role(role))
    if needed is None:
        return None
    return licence_refusal(needed, terms, at, whose=whose)
