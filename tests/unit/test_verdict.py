"""Unit tests of the verdict a scan receives (``judge``): precedence, reasons, and signatures.

``judge`` takes ``today``; these tests never read the clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.identifiers import UnitCode
from app.domain.signing import Signer, encode_signature
from app.domain.verdict import SUSPECT_STATES, VERDICTS, UnitFacts, Verdict, judge

TAG = 3
SIGNER = Signer(TAG, bytes(range(32)))
KEYS = {TAG: SIGNER.public_bytes}
FORGER = Signer(TAG, bytes(range(32, 64)))  # same tag, a key we never published

GTIN = "09506000134352"
SERIAL = "7Q2K9M4XW8RT"
LOT = "LOT42"
EXPIRES = date(2028, 12, 31)
EXPIRY = "281231"
TODAY = date(2026, 5, 17)
FACTS = UnitFacts(lot=LOT, expires_on=EXPIRES, state="in_supply_chain")
STATES = (
    "issued",
    "in_supply_chain",
    "sold",
    "dispensed",
    "destroyed",
    "recycled",
    "stolen",
    "exported",
    "locked",
)


def scan(
    *, lot: str | None = LOT, expiry: str | None = EXPIRY, signed: bool = True, signer: Signer = SIGNER
) -> UnitCode:
    """A scan as printed: the signature covers the lot and expiry of the label (the recorded ones)."""
    signature = signer.sign(GTIN, SERIAL, LOT, EXPIRY) if signed else None
    return UnitCode(GTIN, SERIAL, lot=lot, expiry=expiry, signature=signature)


def test_verdict_names() -> None:
    assert VERDICTS == ("invalid_signature", "unknown", "recalled", "suspect", "expired", "authentic")
    assert frozenset({"stolen", "destroyed"}) == SUSPECT_STATES


# ----------------------------------------------------------------------------------------- one verdict each


def test_authentic_signed() -> None:
    assert judge(scan(), FACTS, KEYS, TODAY) == Verdict("authentic", "valid", ())


def test_authentic_unsigned() -> None:
    assert judge(scan(signed=False), FACTS, KEYS, TODAY) == Verdict("authentic", "absent", ())


def test_a_unit_issued_signed_is_not_confirmed_without_its_signature() -> None:
    signed_facts = replace(FACTS, signed=True)
    assert judge(scan(), signed_facts, KEYS, TODAY) == Verdict("authentic", "valid", ())
    assert judge(scan(signed=False), signed_facts, KEYS, TODAY) == Verdict("suspect", "absent", ("signature_missing",))
    recalled = replace(signed_facts, recalled=True)
    assert judge(scan(signed=False), recalled, KEYS, TODAY) == Verdict(
        "recalled", "absent", ("recalled", "signature_missing")
    )
    late = judge(scan(lot="LOT99", signed=False), signed_facts, KEYS, TODAY + timedelta(days=10_000))
    assert late == Verdict("suspect", "absent", ("signature_missing", "lot_mismatch", "expired"))


def test_authentic_without_lot_and_expiry_unsigned() -> None:
    assert judge(scan(lot=None, expiry=None, signed=False), FACTS, KEYS, TODAY) == Verdict("authentic", "absent", ())


def test_invalid_signature_forged() -> None:
    assert judge(scan(signer=FORGER), FACTS, KEYS, TODAY) == Verdict(
        "invalid_signature", "invalid", ("signature_mismatch",)
    )


def test_invalid_signature_malformed() -> None:
    bad = replace(scan(), signature="A" * 87)
    assert judge(bad, FACTS, KEYS, TODAY) == Verdict("invalid_signature", "invalid", ("signature_malformed",))


def test_invalid_signature_unknown_key() -> None:
    code = scan(signer=Signer(TAG + 1, bytes(range(32))))
    assert judge(code, FACTS, KEYS, TODAY) == Verdict("invalid_signature", "invalid", ("unknown_signing_key",))


def test_unknown_without_signature() -> None:
    assert judge(scan(signed=False), None, KEYS, TODAY) == Verdict("unknown", "absent", ("unknown_code",))


def test_unknown_with_a_valid_signature() -> None:
    # Signed with our key but not in the record: the signature is ours, the code is still unknown.
    assert judge(scan(), None, KEYS, TODAY) == Verdict("unknown", "valid", ("unknown_code",))


def test_recalled() -> None:
    facts = replace(FACTS, recalled=True)
    assert judge(scan(), facts, KEYS, TODAY) == Verdict("recalled", "valid", ("recalled",))


@pytest.mark.parametrize("state", sorted(SUSPECT_STATES))
def test_stolen_or_destroyed_is_suspect(state: str) -> None:
    facts = replace(FACTS, state=state)
    assert judge(scan(), facts, KEYS, TODAY) == Verdict("suspect", "valid", (state,))


@pytest.mark.parametrize("state", [s for s in STATES if s not in ("stolen", "destroyed")])
def test_other_states_are_not_suspect_by_themselves(state: str) -> None:
    assert judge(scan(), replace(FACTS, state=state), KEYS, TODAY) == Verdict("authentic", "valid", ())


def test_lot_mismatch_without_signature_is_suspect() -> None:
    assert judge(scan(lot="LOT99", signed=False), FACTS, KEYS, TODAY) == Verdict("suspect", "absent", ("lot_mismatch",))


def test_expiry_mismatch_without_signature_is_suspect() -> None:
    got = judge(scan(expiry="291231", signed=False), FACTS, KEYS, TODAY)
    assert got == Verdict("suspect", "absent", ("expiry_mismatch",))


def test_lot_changed_on_a_signed_code_is_an_invalid_signature() -> None:
    # The classic relabelling: the lot printed differs from the one signed.
    assert judge(scan(lot="LOT99"), FACTS, KEYS, TODAY) == Verdict(
        "invalid_signature", "invalid", ("signature_mismatch",)
    )
    assert judge(scan(expiry="291231"), FACTS, KEYS, TODAY) == Verdict(
        "invalid_signature", "invalid", ("signature_mismatch",)
    )


def test_expired() -> None:
    today = EXPIRES + timedelta(days=1)
    assert judge(scan(), FACTS, KEYS, today) == Verdict("expired", "valid", ("expired",))


def test_expiry_day_itself_is_not_expired() -> None:
    assert judge(scan(), FACTS, KEYS, EXPIRES) == Verdict("authentic", "valid", ())
    assert judge(scan(), FACTS, KEYS, EXPIRES - timedelta(days=1)) == Verdict("authentic", "valid", ())


def test_day_00_expiry_means_the_last_day_of_the_month() -> None:
    # GS1: "280200" is 29 February 2028. A label printed that way agrees with a record of 2028-02-29.
    facts = replace(FACTS, expires_on=date(2028, 2, 29))
    assert judge(scan(expiry="280200", signed=False), facts, KEYS, TODAY) == Verdict("authentic", "absent", ())
    assert judge(scan(expiry="280229", signed=False), facts, KEYS, TODAY) == Verdict("authentic", "absent", ())
    # ...but not with a record of the 28th.
    facts = replace(FACTS, expires_on=date(2028, 2, 28))
    assert judge(scan(expiry="280200", signed=False), facts, KEYS, TODAY).reasons == ("expiry_mismatch",)


# --------------------------------------------------------------------------------------------- precedence


def test_bad_signature_on_an_unknown_code() -> None:
    assert judge(scan(signer=FORGER), None, KEYS, TODAY) == Verdict(
        "invalid_signature", "invalid", ("signature_mismatch",)
    )


def test_bad_signature_beats_everything_and_tells_nothing_about_the_record() -> None:
    facts = UnitFacts(lot=LOT, expires_on=date(2020, 1, 1), state="stolen", recalled=True)
    assert judge(scan(signer=FORGER, lot="OTHER"), facts, KEYS, TODAY) == Verdict(
        "invalid_signature", "invalid", ("signature_mismatch",)
    )


def test_recalled_beats_suspect_beats_expired() -> None:
    today = EXPIRES + timedelta(days=30)
    everything = UnitFacts(lot=LOT, expires_on=EXPIRES, state="stolen", recalled=True)
    got = judge(scan(lot="LOT99", signed=False), everything, KEYS, today)
    assert got == Verdict("recalled", "absent", ("recalled", "lot_mismatch", "stolen", "expired"))

    got = judge(scan(lot="LOT99", signed=False), replace(everything, recalled=False), KEYS, today)
    assert got == Verdict("suspect", "absent", ("lot_mismatch", "stolen", "expired"))

    got = judge(scan(signed=False), replace(everything, recalled=False), KEYS, today)
    assert got == Verdict("suspect", "absent", ("stolen", "expired"))

    got = judge(scan(signed=False), replace(everything, recalled=False, state="sold"), KEYS, today)
    assert got == Verdict("expired", "absent", ("expired",))

    got = judge(scan(), replace(everything, state="sold"), KEYS, today)
    assert got == Verdict("recalled", "valid", ("recalled", "expired"))


def test_destroyed_and_expired_is_suspect() -> None:
    facts = replace(FACTS, state="destroyed")
    got = judge(scan(), facts, KEYS, EXPIRES + timedelta(days=1))
    assert got == Verdict("suspect", "valid", ("destroyed", "expired"))


# ------------------------------------------------------------------------------------ missing lot or expiry


def test_signed_scan_without_lot_uses_the_recorded_lot() -> None:
    assert judge(scan(lot=None), FACTS, KEYS, TODAY) == Verdict("authentic", "valid", ())


def test_signed_scan_without_expiry_uses_the_recorded_expiry() -> None:
    assert judge(scan(expiry=None), FACTS, KEYS, TODAY) == Verdict("authentic", "valid", ())
    assert judge(scan(lot=None, expiry=None), FACTS, KEYS, TODAY) == Verdict("authentic", "valid", ())


def test_signed_scan_without_lot_checked_against_a_different_recorded_lot() -> None:
    # Signed over LOT42, recorded as LOT77: the recorded lot is what gets checked, and it fails.
    facts = replace(FACTS, lot="LOT77")
    assert judge(scan(lot=None), facts, KEYS, TODAY) == Verdict("invalid_signature", "invalid", ("signature_mismatch",))


@pytest.mark.parametrize(("lot", "expiry"), [(None, EXPIRY), (LOT, None), (None, None)])
def test_signed_scan_missing_fields_of_an_unknown_unit_is_unverifiable(lot: str | None, expiry: str | None) -> None:
    got = judge(scan(lot=lot, expiry=expiry), None, KEYS, TODAY)
    assert got == Verdict("invalid_signature", "invalid", ("signature_unverifiable",))


# --------------------------------------------------------------------------------------------- property


def expected_verdict(*, sig: str, known: bool, recalled: bool, suspect: bool, expired: bool) -> str:
    """The contract's rule, written independently: the first that applies."""
    for verdict, applies in (
        ("invalid_signature", sig == "bad"),
        ("unknown", not known),
        ("recalled", recalled),
        ("suspect", suspect),
        ("expired", expired),
    ):
        if applies:
            return verdict
    return "authentic"


@settings(max_examples=150, deadline=None)
@given(
    sig=st.sampled_from(["none", "valid", "bad"]),
    known=st.booleans(),
    recalled=st.booleans(),
    state=st.sampled_from(STATES),
    lot_in_scan=st.sampled_from(["same", "other", "absent"]),
    expiry_in_scan=st.sampled_from(["same", "other", "absent"]),
    days_past_expiry=st.integers(-1000, 1000),
)
def test_verdict_is_the_first_that_applies(
    sig: str,
    known: bool,
    recalled: bool,
    state: str,
    lot_in_scan: str,
    expiry_in_scan: str,
    days_past_expiry: int,
) -> None:
    scanned_lot = {"same": LOT, "other": "LOT99", "absent": None}[lot_in_scan]
    scanned_expiry = {"same": EXPIRY, "other": "291130", "absent": None}[expiry_in_scan]
    signature = None
    if sig != "none":
        # A "valid" signature is made over what the scan carries (or what the record fills in).
        signer = SIGNER if sig == "valid" else FORGER
        signature = signer.sign(GTIN, SERIAL, scanned_lot or LOT, scanned_expiry or EXPIRY)
    code = UnitCode(GTIN, SERIAL, lot=scanned_lot, expiry=scanned_expiry, signature=signature)
    facts = UnitFacts(lot=LOT, expires_on=EXPIRES, state=state, recalled=recalled) if known else None
    today = EXPIRES + timedelta(days=days_past_expiry)

    got = judge(code, facts, KEYS, today)

    unverifiable = sig != "none" and not known and (scanned_lot is None or scanned_expiry is None)
    mismatch = lot_in_scan == "other" or expiry_in_scan == "other"
    expected = expected_verdict(
        sig="bad" if sig == "bad" or unverifiable else sig,
        known=known,
        recalled=recalled,
        suspect=mismatch or state in ("stolen", "destroyed"),
        expired=days_past_expiry > 0,
    )
    assert got.kind == expected
    if expected == "invalid_signature":
        # Nothing about the record leaks into the answer.
        reason = "signature_unverifiable" if unverifiable else "signature_mismatch"
        assert got == Verdict("invalid_signature", "invalid", (reason,))
        return
    assert got.signature == {"none": "absent", "valid": "valid"}[sig]
    if expected == "unknown":
        assert got.reasons == ("unknown_code",)
    else:
        # Every reason that applies is listed, the most important first.
        wanted = [
            name
            for name, applies in (
                ("recalled", recalled),
                ("lot_mismatch", lot_in_scan == "other"),
                ("expiry_mismatch", expiry_in_scan == "other"),
                (state, state in ("stolen", "destroyed")),
                ("expired", days_past_expiry > 0),
            )
            if applies
        ]
        assert list(got.reasons) == wanted


def test_forged_signature_encodings_are_never_valid() -> None:
    # Our own key tag with a zero signature, and a wrong key tag with a correct signature.
    zero = replace(scan(), signature=encode_signature(TAG, bytes(64)))
    assert judge(zero, FACTS, KEYS, TODAY).kind == "invalid_signature"
    assert judge(zero, FACTS, KEYS, TODAY).reasons == ("signature_mismatch",)
