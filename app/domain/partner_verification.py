"""Verification between trading partners: a unit's facts as the GS1 Lightweight Messaging Standard for Verification
of Product Identifiers (LMS 1.1, the message US DSCSA's verification router network speaks) answers them.

The answer's fields are the standard's: ``verified``, ``verificationFailureReason`` (one of the closed list below,
``null`` when verified) and ``additionalInfo`` (``Recalled``, ``Expired``, ``Suspect``, ``Illegitimate`` or
``null``). The request's ``context`` says why the partner asks: ``dscsaSaleableReturn`` (a pack coming back into
saleable stock), ``suspectOrIllegitimate``, ``statusCheck``.

A verification confirms the product identifier: GTIN and serial known, and lot and expiry (when the request carries
them) those of the record. A known unit that must not go back into stock (recalled, expired, suspect, illegitimate,
or already sold, dispensed, destroyed, stolen, exported) is, in the saleable-return context, ``verified: false`` with
``Not_for_re-distribution``; in the other contexts it is verified and ``additionalInfo`` says what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Context(StrEnum):
    SALEABLE_RETURN = "dscsaSaleableReturn"
    SUSPECT_OR_ILLEGITIMATE = "suspectOrIllegitimate"
    STATUS_CHECK = "statusCheck"


class FailureReason(StrEnum):
    NO_MATCH_GTIN_SERIAL = "No_match_GTIN_Serial"
    NO_MATCH_GTIN_SERIAL_LOT = "No_match_GTIN_Serial_Lot"
    NO_MATCH_GTIN_SERIAL_EXPIRY = "No_match_GTIN_Serial_Expiry"
    NO_MATCH_GTIN_SERIAL_LOT_EXPIRY = "No_match_GTIN_Serial_Lot_Expiry"
    NOT_FOR_REDISTRIBUTION = "Not_for_re-distribution"
    NO_REASON_PROVIDED = "No_reason_provided"


class AdditionalInfo(StrEnum):
    RECALLED = "Recalled"
    EXPIRED = "Expired"
    SUSPECT = "Suspect"
    ILLEGITIMATE = "Illegitimate"


CONTEXTS: tuple[str, ...] = tuple(c.value for c in Context)
# A saleable return is received back into stock only within this time after a positive verification in that context.
RETURN_WINDOW = timedelta(hours=24)

# Verdict reasons (app/domain/verdict.py and the case reasons) that make a pack suspect to a partner. A missing AI 8030
# is not one: a partner's request names the pack by its GS1 attributes and is authenticated by its key.
SUSPECT_REASONS = frozenset({"stolen", "destroyed", "repeat_sale", "clone", "clone_suspect", "under_investigation"})
# Public states (app/domain/custody.py PUBLIC_STATE) a pack can never return to saleable stock from.
GONE_STATES = frozenset({"dispensed", "destroyed", "recycled", "stolen", "exported"})


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """What the record says about the unit a request names, as far as the answer needs it (``None``: unknown)."""

    reasons: tuple[str, ...]  # the verdict's reasons (lot_mismatch, expiry_mismatch, recalled, expired, stolen, ...)
    state: str  # the public state
    illegitimate: bool = False  # a case decided the pack is illegitimate


@dataclass(frozen=True, slots=True)
class Answer:
    verified: bool
    verification_failure_reason: FailureReason | None
    additional_info: AdditionalInfo | None

    def fields(self) -> dict[str, object]:
        return {
            "verified": self.verified,
            "verificationFailureReason": self.verification_failure_reason,
            "additionalInfo": self.additional_info,
        }


NOT_FOUND = Answer(False, FailureReason.NO_MATCH_GTIN_SERIAL, None)
MALFORMED = Answer(False, FailureReason.NO_REASON_PROVIDED, None)
SIGNATURE_FAILED = Answer(False, FailureReason.NO_REASON_PROVIDED, AdditionalInfo.SUSPECT)


def additional_info(reasons: Iterable[str], *, illegitimate: bool = False) -> AdditionalInfo | None:
    """The most serious fact about a known pack: illegitimate, then recalled, suspect, expired."""
    found = set(reasons)
    if illegitimate or "illegitimate" in found:
        return AdditionalInfo.ILLEGITIMATE
    if "recalled" in found:
        return AdditionalInfo.RECALLED
    if found & SUSPECT_REASONS:
        return AdditionalInfo.SUSPECT
    if "expired" in found:
        return AdditionalInfo.EXPIRED
    return None


def mismatch(reasons: Iterable[str]) -> FailureReason | None:
    found = set(reasons)
    lot, expiry = "lot_mismatch" in found, "expiry_mismatch" in found
    if lot and expiry:
        return FailureReason.NO_MATCH_GTIN_SERIAL_LOT_EXPIRY
    if lot:
        return FailureReason.NO_MATCH_GTIN_SERIAL_LOT
    if expiry:
        return FailureReason.NO_MATCH_GTIN_SERIAL_EXPIRY
    return None


def answer(facts: UnitFacts | None, context: Context) -> Answer:
    """The LMS answer for a unit's facts in a context (pure: the same facts always give the same answer)."""
    if facts is None:
        return NOT_FOUND
    info = additional_info(facts.reasons, illegitimate=facts.illegitimate)
    failed = mismatch(facts.reasons)
    if failed is not None:
        return Answer(False, failed, info)
    if context is Context.SALEABLE_RETURN and (info is not None or facts.state in GONE_STATES):
        return Answer(False, FailureReason.NOT_FOR_REDISTRIBUTION, info)
    return Answer(True, None, info)


def positive_for_return(verified: bool, context: str) -> bool:
    """Whether a kept answer lets its requester receive the pack back into saleable stock."""
    return verified and context == Context.SALEABLE_RETURN
