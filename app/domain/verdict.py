"""The verdict a scan receives: the first of invalid_signature, unknown, recalled, suspect, expired, authentic.

A unit issued with a signature is confirmed only by its signature: a scan of it without ``8030`` (a serial typed
from the pack, or printed by a counterfeiter who learned it) is ``suspect`` with the reason ``signature_missing``.
Units registered unsigned (EPCIS commissioning, imports) answer by their records alone.

``reasons`` lists every machine code that applies from the verdict downwards, so a suspect code that is also
expired says both. Nothing about the record is consulted for a bad signature or an unknown code, so the public
answer never tells a forger more than "not ours".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from app.domain.identifiers import UnitCode, date_to_yymmdd, yymmdd_to_date
from app.domain.signing import verify_signature


class VerdictKind(StrEnum):
    """In precedence order: the first that applies is the verdict."""

    INVALID_SIGNATURE = "invalid_signature"
    UNKNOWN = "unknown"
    RECALLED = "recalled"
    SUSPECT = "suspect"
    EXPIRED = "expired"
    AUTHENTIC = "authentic"


class SignatureState(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    ABSENT = "absent"  # the scan carried no 8030


VERDICTS: tuple[str, ...] = tuple(v.value for v in VerdictKind)
NOT_OURS = frozenset({VerdictKind.INVALID_SIGNATURE, VerdictKind.UNKNOWN})  # answered without the record
SUSPECT_STATES = frozenset({"stolen", "destroyed"})


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """What the record says about a unit, as far as a verdict needs it."""

    lot: str
    expires_on: date
    state: str  # the public state (see app/domain/custody.py)
    recalled: bool = False
    signed: bool = False  # issued with a signature, so only a signed scan can confirm it
    flags: tuple[str, ...] = ()  # suspect reasons found elsewhere, e.g. "repeat_sale"


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    signature: SignatureState
    reasons: tuple[str, ...] = field(default=())


def judge(scan: UnitCode, facts: UnitFacts | None, public_keys: Mapping[int, bytes], today: date) -> Verdict:
    signature = SignatureState.ABSENT
    if scan.signature is not None:
        lot = scan.lot if scan.lot is not None else (facts.lot if facts else None)
        expiry = scan.expiry if scan.expiry is not None else (date_to_yymmdd(facts.expires_on) if facts else None)
        if lot is None or expiry is None:
            return Verdict(VerdictKind.INVALID_SIGNATURE, SignatureState.INVALID, ("signature_unverifiable",))
        failure = verify_signature(public_keys, scan.gtin, scan.serial, lot, expiry, scan.signature)
        if failure is not None:
            return Verdict(VerdictKind.INVALID_SIGNATURE, SignatureState.INVALID, (failure,))
        signature = SignatureState.VALID
    if facts is None:
        return Verdict(VerdictKind.UNKNOWN, signature, ("unknown_code",))

    reasons: list[str] = []
    if facts.recalled:
        reasons.append("recalled")
    if facts.signed and scan.signature is None:
        reasons.append("signature_missing")
    if scan.lot is not None and scan.lot != facts.lot:
        reasons.append("lot_mismatch")
    # Compare dates, not strings: a printed day 00 means the last day of the month (see yymmdd_to_date).
    if scan.expiry is not None and yymmdd_to_date(scan.expiry) != facts.expires_on:
        reasons.append("expiry_mismatch")
    if facts.state in SUSPECT_STATES:
        reasons.append(facts.state)
    reasons.extend(facts.flags)
    if facts.expires_on < today:
        reasons.append("expired")
    if not reasons:
        return Verdict(VerdictKind.AUTHENTIC, signature)
    first = reasons[0]
    kind = VerdictKind(first) if first in (VerdictKind.RECALLED, VerdictKind.EXPIRED) else VerdictKind.SUSPECT
    return Verdict(kind, signature, tuple(reasons))
