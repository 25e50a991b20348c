"""Partner verification (GS1 LMS): a unit's facts mapped to verified / verificationFailureReason / additionalInfo,
and the compact JWS its answer is signed with, checked by an independent library (PyNaCl, i.e. libsodium)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from app.domain.errors import InvalidInput
from app.domain.jws import CompactSigner, canonical_json, sign_compact, verify_compact
from app.domain.partner_verification import (
    MALFORMED,
    NOT_FOUND,
    AdditionalInfo,
    Answer,
    Context,
    FailureReason,
    UnitFacts,
    answer,
    positive_for_return,
)
from app.domain.signing import Signer, jwk

R, S, C = Context.SALEABLE_RETURN, Context.STATUS_CHECK, Context.SUSPECT_OR_ILLEGITIMATE
F, A = FailureReason, AdditionalInfo

# (reasons, public state, context) -> (verified, failure reason, additional info): the table written out by hand.
CASES = [
    ((), "in_supply_chain", R, (True, None, None)),
    ((), "in_supply_chain", S, (True, None, None)),
    (("signature_missing",), "in_supply_chain", R, (True, None, None)),  # a partner's request carries no 8030
    (("lot_mismatch",), "in_supply_chain", S, (False, F.NO_MATCH_GTIN_SERIAL_LOT, None)),
    (("expiry_mismatch",), "in_supply_chain", S, (False, F.NO_MATCH_GTIN_SERIAL_EXPIRY, None)),
    (("lot_mismatch", "expiry_mismatch"), "in_supply_chain", R, (False, F.NO_MATCH_GTIN_SERIAL_LOT_EXPIRY, None)),
    (("recalled", "lot_mismatch"), "in_supply_chain", S, (False, F.NO_MATCH_GTIN_SERIAL_LOT, A.RECALLED)),
    (("recalled",), "in_supply_chain", R, (False, F.NOT_FOR_REDISTRIBUTION, A.RECALLED)),
    (("recalled",), "in_supply_chain", S, (True, None, A.RECALLED)),
    (("expired",), "in_supply_chain", R, (False, F.NOT_FOR_REDISTRIBUTION, A.EXPIRED)),
    (("expired",), "in_supply_chain", C, (True, None, A.EXPIRED)),
    (("stolen",), "stolen", R, (False, F.NOT_FOR_REDISTRIBUTION, A.SUSPECT)),
    (("repeat_sale", "expired"), "sold", S, (True, None, A.SUSPECT)),
    (("under_investigation",), "in_supply_chain", C, (True, None, A.SUSPECT)),
    (("recalled", "stolen", "expired"), "stolen", S, (True, None, A.RECALLED)),
    (("illegitimate", "recalled"), "in_supply_chain", S, (True, None, A.ILLEGITIMATE)),
    ((), "dispensed", R, (False, F.NOT_FOR_REDISTRIBUTION, None)),  # dispensed packs never return to stock
    ((), "sold", R, (True, None, None)),  # a pack sold to a pharmacy's customer may come back unopened
    ((), "dispensed", S, (True, None, None)),
]


@pytest.mark.parametrize(("reasons", "state", "context", "expected"), CASES)
def test_answer_table(reasons, state, context, expected):
    assert answer(UnitFacts(reasons, state), context) == Answer(*expected)


def test_unknown_and_malformed():
    for context in Context:
        assert answer(None, context) == NOT_FOUND == Answer(False, F.NO_MATCH_GTIN_SERIAL, None)
    assert MALFORMED == Answer(False, F.NO_REASON_PROVIDED, None)
    assert answer(UnitFacts((), "held", illegitimate=True), S).additional_info is A.ILLEGITIMATE


def test_fields_use_the_lms_names_and_values():
    fields = Answer(False, F.NOT_FOR_REDISTRIBUTION, A.RECALLED).fields()
    assert json.loads(json.dumps(fields)) == {
        "verified": False,
        "verificationFailureReason": "Not_for_re-distribution",
        "additionalInfo": "Recalled",
    }
    assert {c.value for c in Context} == {"dscsaSaleableReturn", "suspectOrIllegitimate", "statusCheck"}


def test_only_a_verified_saleable_return_counts_for_a_return():
    assert positive_for_return(True, "dscsaSaleableReturn")
    assert not positive_for_return(False, "dscsaSaleableReturn")
    assert not positive_for_return(True, "statusCheck")


SEED = bytes(range(32))
SIGNER = Signer(7, SEED)
PAYLOAD = {"verified": True, "correlationUUID": "2b1f4c8e-0000-4000-8000-000000000001", "name": "对乙酰氨基酚"}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_jws_checks_with_an_independent_library():
    token = sign_compact(PAYLOAD, SIGNER, typ="lms-verification+jws")
    head, body, signature = token.split(".")
    assert "=" not in token
    assert json.loads(_b64(head)) == {"alg": "EdDSA", "kid": "0007", "typ": "lms-verification+jws"}
    assert json.loads(_b64(body)) == PAYLOAD
    assert _b64(body) == canonical_json(PAYLOAD)
    key = jwk(7, SIGNER.public_bytes)  # as /.well-known/jwks.json publishes it
    VerifyKey(_b64(key["x"])).verify(f"{head}.{body}".encode(), _b64(signature))  # raises if it does not verify
    with pytest.raises(BadSignatureError):
        VerifyKey(_b64(key["x"])).verify(f"{head}.{body}x".encode(), _b64(signature))


def test_jws_is_deterministic_and_verifies_with_its_kid():
    token = sign_compact(PAYLOAD, SIGNER)
    assert token == sign_compact(dict(reversed(list(PAYLOAD.items()))), SIGNER)  # canonical: key order does not matter
    assert verify_compact(token, {"0007": SIGNER.public_bytes}) == PAYLOAD


def test_a_kept_compact_signer_signs_exactly_as_sign_compact():
    kept = CompactSigner(SIGNER, typ="lms-verification+jws")
    assert kept.key_tag == 7
    for payload in (PAYLOAD, {"verified": False, "product": {"gtin": None}}, {}):
        assert kept.sign(payload) == sign_compact(payload, SIGNER, typ="lms-verification+jws")
        assert verify_compact(kept.sign(payload), {"0007": SIGNER.public_bytes}, typ="lms-verification+jws") == payload
    other = CompactSigner(Signer(8, bytes(range(1, 33))), typ="lms-verification+jws")
    with pytest.raises(InvalidInput):  # another key's signature under this kid does not verify
        verify_compact(
            other.sign(PAYLOAD).replace(other.sign(PAYLOAD).split(".")[0], kept.sign(PAYLOAD).split(".")[0]),
            {"0007": SIGNER.public_bytes},
        )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".x",
        lambda t: t.rsplit(".", 1)[0] + "." + base64.urlsafe_b64encode(bytes(64)).decode().rstrip("="),
        lambda t: (
            ".".join([t.split(".")[0], base64.urlsafe_b64encode(b'{"verified":false}').decode().rstrip("=")])
            + "."
            + t.split(".")[2]
        ),
        lambda t: t + "==",
    ],
)
def test_jws_refuses_tampering(mangle):
    with pytest.raises(InvalidInput):
        verify_compact(mangle(sign_compact(PAYLOAD, SIGNER)), {"0007": SIGNER.public_bytes})


def test_jws_refuses_an_unknown_kid_and_other_algorithms():
    token = sign_compact(PAYLOAD, SIGNER)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(InvalidInput):
        verify_compact(token, {"0008": SIGNER.public_bytes})
    with pytest.raises(InvalidInput):
        verify_compact(token, {"0007": other})
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"0007"}').decode().rstrip("=")
    with pytest.raises(InvalidInput):
        verify_compact(none_header + "." + token.split(".", 1)[1], {"0007": SIGNER.public_bytes})
