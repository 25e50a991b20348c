"""The partner answer's text (app/services/partner_verification.py answer_partner): written from a template, it must
be byte for byte the canonical JSON of the answer's members (what the JWS signs), for every shape of answer, with
the signature added last; and the correlation UUIDs it makes must be random version-4 UUIDs in canonical form."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import combinations
from typing import Any

import pytest

from app.db.partner_facts import ProductRow
from app.db.units import UnitRow
from app.domain.custody import PUBLIC_STATE
from app.domain.identifiers import UnitCode
from app.domain.jws import CompactSigner, b64url_decode, canonical_json, verify_compact
from app.domain.partner_verification import (
    MALFORMED,
    NOT_FOUND,
    SIGNATURE_FAILED,
    SUSPECT_REASONS,
    AdditionalInfo,
    Answer,
    Context,
    FailureReason,
    UnitFacts,
    answer,
)
from app.domain.signing import Signer
from app.domain.verdict import SignatureState, Verdict, VerdictKind
from app.services.orgs import Principal
from app.services.partner_verification import (
    JWS_TYPE,
    PartnerRequest,
    answer_partner,
    correlation_of,
    new_correlation_uuid,
    parties_json,
)
from app.services.verification import Verification

SIGNER = Signer(1, bytes(range(32)))
SIGNING = CompactSigner(SIGNER, typ=JWS_TYPE)
NOW = datetime(2026, 12, 5, 6, 40, 7, tzinfo=UTC)
SERVICE = "https://passport.example/ü"
MAKER = ProductRow("3f0c5d2e9b8a4c1d8e7f6a5b4c3d2e1f", 'Acme "Pharma" \\ 药厂\n', None, "drug_rx")
PRODUCTS = [
    MAKER,
    ProductRow("m" * 32, "Maker", "9506000000009", "food"),
    ProductRow("b" * 32, 'Back\\slash "q" \x00\x1f\x7f \u2028\u2029 💊 Ünïcødé/', "0614141000005", "drug_otc"),
    None,
]
REQUESTERS = [
    ("a71d2c3b4e5f46a7b8c9d0e1f2a3b4c5", "Wholesaler <East> 批发"),
    ("c" * 32, 'Pharmacie "Saint-\\Étienne" \t\r\n \u00a0 ☤ 💊'),
]
SCANS = [
    UnitCode("09506000134352", "7Q4XK2M9", "LOT42", "281031"),
    UnitCode("09506000134352", 'S"\\/\u2028é\t1', None, None),
    UnitCode("09506000134352", "S2", 'L"ö\\', None),
    UnitCode("09506000134352", "S3", None, "281000"),
]
# The correlation UUID as the requester sent it (canonicalised) and one the service made when none was sent.
CORRELATIONS = [correlation_of("6F1C2A9E3B4D4C6E9A1B2F3E4D5C6B7A"), correlation_of(None)]
# Every reason a verdict can carry that the answer reads (app/domain/verdict.py judge, the case reasons).
REASONS = (
    "lot_mismatch",
    "expiry_mismatch",
    "recalled",
    "expired",
    "illegitimate",
    "signature_missing",
    *sorted(SUSPECT_REASONS),
)
STATES = sorted(set(PUBLIC_STATE.values()))
ROW = UnitRow("LOT42", date(2028, 10, 31), "sold", "Paracetamol", "drug_rx", "Acme", 7, None, None, None, NOW, None,
              False, False, False, True)  # fmt: skip


def expected_body(answer: Answer, scan: UnitCode | None, context: Context, correlation: str,
                  product: ProductRow | None, requester: tuple[str, str]) -> dict[str, object]:  # fmt: skip
    """The answer as the dict the service built before the template (canonical_json of this is what is signed)."""
    return {
        **answer.fields(),
        "context": context.value,
        "product": {
            "gtin": scan.gtin if scan else None,
            "serial": scan.serial if scan else None,
            "lot": scan.lot if scan else None,
            "expiry": scan.expiry if scan else None,
        },
        "responder": {
            "id": product.manufacturer_id if product else None,
            "name": product.manufacturer_name if product else None,
            "gln": product.manufacturer_gln if product else None,
            "service": SERVICE,
        },
        "requester": {"id": requester[0], "name": requester[1]},
        "correlationUUID": correlation,
        "verificationTimestamp": "2026-12-05T06:40:07Z",
    }


def cases() -> Iterator[tuple[Verification | None, Answer | None, str]]:
    """Every shape of verification the service answers, with the LMS answer it must give (None: the domain's answer
    for the record's facts in the request's context): each verdict of the code's own list (``VerdictKind``), with
    and without the record, the record with each reason alone, each pair of them and none, in each public state;
    and no verification (a malformed request)."""
    scan = SCANS[0]
    yield None, MALFORMED, "malformed"
    reason_sets = [(), *((r,) for r in REASONS), *combinations(REASONS, 2)]
    for kind in VerdictKind:
        signature = SignatureState.INVALID if kind is VerdictKind.INVALID_SIGNATURE else SignatureState.VALID
        for reasons in reason_sets:
            verdict = Verdict(kind, signature, reasons)
            without = SIGNATURE_FAILED if kind is VerdictKind.INVALID_SIGNATURE else NOT_FOUND
            yield Verification(scan, verdict, None, unit_id=7), without, f"{kind} {reasons} without the record"
            if kind is VerdictKind.INVALID_SIGNATURE:
                continue  # never shown the record (app/services/verification.py)
            for state in STATES:
                yield Verification(scan, verdict, ROW, state=state, unit_id=7), None, f"{kind} {reasons} {state}"


def lms_answer(verification: Verification | None, expected: Answer | None, context: Context) -> Answer:
    if expected is None:
        assert verification is not None
        return answer(UnitFacts(verification.verdict.reasons, verification.state or ""), context)
    return expected


def check(*, verification: Verification | None, expected: Answer, scan: UnitCode | None, context: Context,
          correlation: str, product: ProductRow | None, requester: tuple[str, str]) -> dict[str, Any]:  # fmt: skip
    """The answer's text is byte for byte canonical_json of the expected members with the signature added last, the
    signature covers those bytes, and the parties the desk keeps per key and GTIN give the same text."""
    principal = Principal(requester[0], requester[1], "regulator", frozenset())
    request = PartnerRequest("/01/x", "", scan, context, correlation)
    kept = answer_partner(principal=principal, product=product, request=request, verification=verification,
                          signer=SIGNING, now=NOW, responder_url=SERVICE)  # fmt: skip
    payload = canonical_json(expected_body(expected, scan, context, correlation, product, requester))
    signature = SIGNING.sign_text(payload)  # Ed25519: deterministic
    assert kept.answer.encode() == payload[:-1] + b',"signature":"' + signature.encode() + b'"}'
    assert b64url_decode(signature.split(".")[1]) == payload
    assert kept.verified is expected.verified and kept.correlation_uuid == correlation
    parties = parties_json(requester[0], requester[1], product, SERVICE)
    again = answer_partner(principal=principal, product=product, request=request, verification=verification,
                           signer=SIGNING, now=NOW, responder_url="https://elsewhere.example", parties=parties)  # fmt: skip
    assert again.answer == kept.answer  # the parties given: the responder URL is theirs
    return json.loads(kept.answer)


@pytest.mark.parametrize("context", list(Context))
def test_every_answer_shape_is_the_canonical_json_of_its_members_then_the_signature(context):
    """Each verdict and fact the service can answer, in each context: the template's bytes (``verified`` true and
    false, each failure reason and additionalInfo, and their nulls) against canonical_json of the same answer."""
    shapes: set[tuple[object, ...]] = set()
    kinds: set[VerdictKind] = set()
    for number, (verification, expected, case) in enumerate(cases()):
        lms = lms_answer(verification, expected, context)
        scan = SCANS[0] if verification is not None else None
        try:
            answer_json = check(verification=verification, expected=lms, scan=scan, context=context,
                                correlation=CORRELATIONS[number % 2], product=PRODUCTS[number % len(PRODUCTS)],
                                requester=REQUESTERS[number % 2])  # fmt: skip
        except AssertionError as error:
            raise AssertionError(f"{case}: {error}") from error
        shapes.add(tuple(lms.fields().values()))
        assert (answer_json["verified"], answer_json["verificationFailureReason"], answer_json["additionalInfo"]) == (
            lms.verified,
            lms.verification_failure_reason,
            lms.additional_info,
        )
        if verification is not None:
            kinds.add(verification.verdict.kind)
    assert kinds == set(VerdictKind)  # a new verdict is enumerated here as soon as it is added
    # every value each LMS field can take appears in some answer checked: a new reason or additionalInfo is checked
    # here once the service can give it (and fails this until it is enumerated)
    assert {verified for verified, _, _ in shapes} == {True, False}
    assert {info for _, _, info in shapes} == {*AdditionalInfo, None}
    reasons = {reason for _, reason, _ in shapes}
    if context is Context.SALEABLE_RETURN:
        assert reasons == {*FailureReason, None}
    else:
        assert reasons == {*FailureReason, None} - {FailureReason.NOT_FOR_REDISTRIBUTION}
    if context is not Context.SALEABLE_RETURN:  # a known pack with something wrong: verified, additionalInfo says so
        assert {(True, None, info) for info in AdditionalInfo} <= shapes


@pytest.mark.parametrize("scan", [*SCANS, None])
@pytest.mark.parametrize("product", PRODUCTS)
@pytest.mark.parametrize("requester", REQUESTERS)
@pytest.mark.parametrize("correlation", CORRELATIONS)
def test_names_and_codes_are_escaped_as_canonical_json_escapes_them(scan, product, requester, correlation):
    """Non-ASCII, quotes, backslashes and control characters in the organisations' and product's names and in the
    code, with the sent and a made correlation UUID, for a verified answer with and without additionalInfo and a
    refused one, in every context."""
    for context in Context:
        if scan is None:
            check(verification=None, expected=MALFORMED, scan=None, context=context, correlation=correlation,
                  product=product, requester=requester)  # fmt: skip
            continue
        for reasons in [(), ("recalled",), ("lot_mismatch", "expired")]:
            verification = Verification(scan, Verdict(VerdictKind.AUTHENTIC, SignatureState.VALID, reasons), ROW,
                                        state="in_supply_chain", unit_id=7)  # fmt: skip
            lms = answer(UnitFacts(reasons, "in_supply_chain"), context)
            members = check(verification=verification, expected=lms, scan=scan, context=context,
                            correlation=correlation, product=product, requester=requester)  # fmt: skip
            assert verify_compact(members.pop("signature"), {"0001": SIGNER.public_bytes}, typ=JWS_TYPE) == members


def test_new_correlation_uuids_are_random_version_4_uuids_in_canonical_form():
    made = [new_correlation_uuid() for _ in range(2000)]
    assert len(set(made)) == 2000
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert {text[19] for text in made} == set("89ab")  # the variant's two free bits are random
    assert len({text[14] for text in made}) == 1 and len({text[0] for text in made}) == 16
    assert uuid.UUID(correlation_of(None)).version == 4
    assert correlation_of("6F1C2A9E3B4D4C6E9A1B2F3E4D5C6B7A") == "6f1c2a9e-3b4d-4c6e-9a1b-2f3e4d5c6b7a"


def test_the_desk_makes_the_requesters_licences_again_at_midnight_and_at_a_revocation():
    """The desk keeps the requester with the licences standing (app/services/partner_desk.py ``_principal``) only
    until the next UTC midnight or revocation: each answer still gets the licences standing at its own time."""
    from datetime import date, timedelta

    from app.db.partner_facts import PartnerFacts
    from app.domain.licences import LicenceTerm
    from app.services.partner_desk import _Known, _principal

    facts = PartnerFacts("o" * 32, "Wholesaler", "distributor", (), None, 1)
    at = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    revoked = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    terms = (
        LicenceTerm("drug_wholesale", date(2026, 1, 1), date(2026, 12, 5)),  # its last day
        LicenceTerm("drug_retail", date(2026, 12, 6)),  # from tomorrow
        LicenceTerm("drug_import", date(2026, 1, 1), None, revoked),  # revoked at noon
    )
    known = _Known(facts, terms, "", 0.0)
    first = _principal(known, at)
    assert first.licences == {"drug_wholesale", "drug_import"} and first.org_id == facts.org_id
    assert _principal(known, revoked - timedelta(microseconds=1)) is first  # nothing changed: the same one
    assert _principal(known, revoked).licences == {"drug_wholesale"}
    assert _principal(known, datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)).licences == {"drug_wholesale"}
    assert _principal(known, datetime(2026, 12, 6, 0, 0, tzinfo=UTC)).licences == {"drug_retail"}
    assert _principal(known, datetime(2026, 12, 6, 1, 0, tzinfo=UTC)).licences == {"drug_retail"}
