"""The partner answer's text (app/services/partner_verification.py answer_partner): written from a template, it must
be byte for byte the canonical JSON of the answer's members (what the JWS signs), for every shape of answer, with
the signature added last; and the correlation UUIDs it makes must be random version-4 UUIDs in canonical form."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from app.db.partner_facts import ProductRow
from app.domain.identifiers import UnitCode
from app.domain.jws import CompactSigner, b64url_decode, canonical_json, verify_compact
from app.domain.partner_verification import MALFORMED, NOT_FOUND, SIGNATURE_FAILED, Context
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
NOW = datetime(2026, 12, 5, 6, 40, 7, tzinfo=UTC)
MAKER = ProductRow("3f0c5d2e9b8a4c1d8e7f6a5b4c3d2e1f", 'Acme "Pharma" \\ 药厂\n', None, "drug_rx")


def expected_body(answer: dict[str, object], scan: UnitCode | None, context: Context, correlation: str,
                  product: ProductRow | None, requester: tuple[str, str]) -> dict[str, object]:  # fmt: skip
    """The answer as the dict the service built before the template (canonical_json of this is what is signed)."""
    return {
        **answer,
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
            "service": "https://passport.example/ü",
        },
        "requester": {"id": requester[0], "name": requester[1]},
        "correlationUUID": correlation,
        "verificationTimestamp": "2026-12-05T06:40:07Z",
    }


SCANS = [
    UnitCode("09506000134352", "7Q4XK2M9", "LOT42", "281031"),
    UnitCode("09506000134352", 'S"\\/\u2028é\t1', None, None),
    None,
]
VERIFICATIONS = {
    "unknown": lambda scan: Verification(scan, Verdict(VerdictKind.UNKNOWN, SignatureState.ABSENT, ()), None),
    "bad signature": lambda scan: Verification(
        scan, Verdict(VerdictKind.INVALID_SIGNATURE, SignatureState.INVALID, ()), None
    ),
}


@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("context", list(Context))
@pytest.mark.parametrize("product", [MAKER, ProductRow("m" * 32, "Maker", "9506000000009", "food"), None])
@pytest.mark.parametrize("verdict", [*VERIFICATIONS, None])
def test_the_answer_text_is_the_canonical_json_of_its_members_then_the_signature(scan, context, product, verdict):
    requester = ("a71d2c3b4e5f46a7b8c9d0e1f2a3b4c5", "Wholesaler <East> 批发")
    principal = Principal(requester[0], requester[1], "regulator", frozenset())
    verification = VERIFICATIONS[verdict](scan) if verdict is not None and scan is not None else None
    request = PartnerRequest("/01/x", "", scan, context, "6f1c2a9e-3b4d-4c6e-9a1b-2f3e4d5c6b7a")
    signer = CompactSigner(SIGNER, typ=JWS_TYPE)
    kept = answer_partner(
        principal=principal,
        product=product,
        request=request,
        verification=verification,
        signer=signer,
        now=NOW,
        responder_url="https://passport.example/ü",
    )
    answer = json.loads(kept.answer)
    members = {k: v for k, v in answer.items() if k != "signature"}
    lms = {"unknown": NOT_FOUND, "bad signature": SIGNATURE_FAILED}.get(verdict, MALFORMED).fields()
    if scan is None:
        lms = MALFORMED.fields()
    assert members == expected_body(lms, scan, context, request.correlation_uuid, product, requester)
    payload = canonical_json(members)
    assert kept.answer.encode() == payload[:-1] + b',"signature":"' + answer["signature"].encode() + b'"}'
    assert answer["signature"] == signer.sign_text(payload)  # the JWS covers exactly these bytes
    assert b64url_decode(answer["signature"].split(".")[1]) == payload
    assert verify_compact(answer["signature"], {"0001": SIGNER.public_bytes}, typ=JWS_TYPE) == members
    # the parties the desk keeps per key and GTIN give the same bytes
    parties = parties_json(requester[0], requester[1], product, "https://passport.example/ü")
    again = answer_partner(
        principal=principal,
        product=product,
        request=request,
        verification=verification,
        signer=signer,
        now=NOW,
        responder_url="https://elsewhere.example",  # unused when the parties are given
        parties=parties,
    )
    assert again.answer == kept.answer


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
