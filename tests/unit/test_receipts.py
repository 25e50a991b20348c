"""Sale receipts (app/domain/receipts.py): the claims, strict reading with a reason, and the standing of a sale."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.domain.jws import b64url, sign_compact, sign_many, verify_compact
from app.domain.receipts import (
    MAX_TOKEN_CHARS,
    RECEIPT_TYPE,
    Invalidity,
    Receipt,
    ReceiptInvalid,
    Standing,
    Step,
    StepKind,
    key_tag_of,
    read_receipt,
    sign_receipts,
    standing,
)
from app.domain.signing import Signer

SIGNER = Signer(0x0102, bytes(range(32)))
KEYS = {"0102": SIGNER.public_bytes}
SOLD_AT = datetime(2026, 12, 5, 8, 30, 15, 250000, tzinfo=UTC)
RECEIPT = Receipt("09506000134352", "A1B2C3", 41, 977, SOLD_AT, "CN-11", "offline", "sell", "https://p.test")


def payload_of(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    loaded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return loaded


def reason(token: str, keys: dict[str, bytes] = KEYS) -> Invalidity:
    with pytest.raises(ReceiptInvalid) as caught:
        read_receipt(token, keys)
    assert caught.value.code == "invalid_receipt" and caught.value.extra["reason"] == caught.value.reason.value
    return caught.value.reason


def test_the_claims_are_the_contract_s_and_nothing_about_the_seller() -> None:
    assert RECEIPT.claims() == {
        "action": "sell",
        "channel": "offline",
        "event_id": 41,
        "gtin": "09506000134352",
        "iss": "https://p.test",
        "log_index": 977,
        "region": "CN-11",
        "serial": "A1B2C3",
        "sold_at": "2026-12-05T08:30:15.250000+00:00",
    }


def test_sold_at_is_said_in_utc_whatever_offset_it_came_with() -> None:
    shanghai = SOLD_AT.astimezone(timezone(timedelta(hours=8)))
    moved = Receipt(**{**{f: getattr(RECEIPT, f) for f in RECEIPT.__slots__}, "sold_at": shanghai})
    assert moved.claims()["sold_at"] == "2026-12-05T08:30:15.250000+00:00"


def test_a_signed_receipt_reads_back_and_signing_is_deterministic() -> None:
    [token] = sign_receipts([RECEIPT], SIGNER)
    assert read_receipt(token, KEYS) == RECEIPT
    assert sign_receipts([RECEIPT], SIGNER) == [token]
    assert token == sign_compact(RECEIPT.claims(), SIGNER, typ=RECEIPT_TYPE)  # one JWS code for every use
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert head == {"alg": "EdDSA", "kid": "0102", "typ": "passport-receipt+jws"}
    assert key_tag_of(token) == 0x0102


def test_sign_many_is_sign_compact_of_each() -> None:
    payloads = [{"n": n} for n in range(5)]
    assert sign_many(payloads, SIGNER, typ="x") == [sign_compact(p, SIGNER, typ="x") for p in payloads]
    assert sign_many([], SIGNER) == []


def test_sign_many_signs_as_openssl_does() -> None:
    """libsodium signs (jws.CompactSigner); Ed25519 is deterministic, so OpenSSL's signature of the same signing
    input, through the cryptography package, is the same bytes."""
    key = Ed25519PrivateKey.from_private_bytes(SIGNER.private_bytes)
    payloads = [RECEIPT.claims(), {"n": 1, "ü": "中"}, {}]
    for token in sign_many(payloads, SIGNER, typ=RECEIPT_TYPE):
        head, body, signature = token.split(".")
        assert signature == b64url(key.sign(f"{head}.{body}".encode("ascii")))
        assert json.loads(base64.urlsafe_b64decode(body + "==")) in payloads


def test_every_refusal_has_its_reason() -> None:
    [token] = sign_receipts([RECEIPT], SIGNER)
    head, body, signature = token.split(".")
    forged = b64url(json.dumps({**RECEIPT.claims(), "serial": "OTHER"}).encode())
    assert reason(f"{head}.{forged}.{signature}") is Invalidity.BAD_SIGNATURE
    assert reason(token[:-4]) is Invalidity.BAD_SIGNATURE
    assert reason(f"{head}.{body}") is Invalidity.MALFORMED
    assert reason(f"{head}.{body[:-3]}.{signature}") is Invalidity.MALFORMED
    assert reason(f"{head}.{body}.{signature}=") is Invalidity.MALFORMED
    assert reason("x" * (MAX_TOKEN_CHARS + 1)) is Invalidity.MALFORMED
    assert reason(token, {"0103": SIGNER.public_bytes}) is Invalidity.UNKNOWN_KEY
    other = Signer(0x0102, bytes(range(1, 33)))
    assert reason(sign_receipts([RECEIPT], other)[0]) is Invalidity.BAD_SIGNATURE
    assert reason(sign_compact(RECEIPT.claims(), SIGNER, typ="lms-verification+jws")) is Invalidity.WRONG_TYPE
    assert reason(sign_compact(RECEIPT.claims(), SIGNER)) is Invalidity.WRONG_TYPE
    deep = f"{b64url(b'[' * 5000)}.{b64url(b'{}')}.AA"
    assert reason(deep) is Invalidity.MALFORMED


def test_verify_compact_names_its_reasons() -> None:
    token = sign_compact({"a": 1}, SIGNER, typ="t")
    assert verify_compact(token, KEYS, typ="t") == {"a": 1}
    assert verify_compact(token, KEYS) == {"a": 1}  # no type asked for: any
    for bad, why in (
        ("a.b", "malformed"),
        (token, "wrong_type"),
        (token.rsplit(".", 1)[0] + ".A", "malformed"),
        (token[:-2] + ("AA" if token[-2:] != "AA" else "BA"), "bad_signature"),
    ):
        with pytest.raises(Exception) as caught:
            verify_compact(bad, KEYS, typ="t" if why != "wrong_type" else "u")
        assert caught.value.extra["reason"] == why, bad  # type: ignore[attr-defined]


DROP = object()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"gtin": DROP, "iss": DROP}, "missing gtin, iss"),
        ({"gtin": "0950600013435"}, "gtin is not 14 digits"),
        ({"gtin": "0950600013435X"}, "gtin is not 14 digits"),
        ({"serial": ""}, "serial is not 1 to 20 characters"),
        ({"serial": "X" * 21}, "serial is not 1 to 20 characters"),
        ({"serial": 12}, "serial is not 1 to 20 characters"),
        ({"event_id": 0}, "event_id is not a whole number in range"),
        ({"event_id": True}, "event_id is not a whole number in range"),
        ({"event_id": "41"}, "event_id is not a whole number in range"),
        ({"log_index": -1}, "log_index is not a whole number in range"),
        ({"log_index": 1.0}, "log_index is not a whole number in range"),
        ({"action": "ship"}, "action or channel is not one a sale has"),
        ({"channel": "mail"}, "action or channel is not one a sale has"),
        ({"region": 11}, "region is not text"),
        ({"iss": None}, "iss is not text"),
        ({"sold_at": "yesterday"}, "sold_at is not an ISO 8601 time"),
        ({"sold_at": 1764923415}, "sold_at is not an ISO 8601 time"),
        ({"sold_at": "2026-12-05T08:30:15"}, "sold_at has no UTC offset"),
        ({"sold_at": "0001-01-01T00:00:00+01:00"}, "sold_at is out of range"),
        ({"sold_at": "9999-12-31T23:59:59-23:59"}, "sold_at is out of range"),
    ],
)
def test_a_signed_payload_that_is_no_receipt_says_what_is_wrong(change: dict[str, object], says: str) -> None:
    claims = {k: v for k, v in {**RECEIPT.claims(), **change}.items() if v is not DROP}
    token = sign_compact(claims, SIGNER, typ=RECEIPT_TYPE)
    with pytest.raises(ReceiptInvalid) as caught:
        read_receipt(token, KEYS)
    assert caught.value.reason is Invalidity.BAD_CLAIMS
    assert caught.value.detail == f"the signed payload is not a receipt: {says}"


def test_a_receipt_without_region_is_still_one() -> None:
    bare = Receipt("09506000134352", "1", 1, 0, SOLD_AT, None, "online", "dispense", "https://p.test")
    assert read_receipt(sign_receipts([bare], SIGNER)[0], KEYS) == bare


def test_key_tag_of_reads_only_a_four_hex_digit_kid() -> None:
    assert key_tag_of("eyJraWQiOiIwMDBhIn0.x.y") == 0x000A  # {"kid":"000a"}
    for bad in ("", "!!!", b64url(b'{"kid":"a"}'), b64url(b'{"kid":7}'), b64url(b"[1]"), b64url(b'{"kid":"zzzz"}')):
        assert key_tag_of(bad + ".x.y") is None


# ------------------------------------------------------------------------------------------------ standing

SALE, PARTIAL, RETURN = StepKind.SALE, StepKind.PARTIAL, StepKind.RETURN


@pytest.mark.parametrize(
    ("event_id", "steps", "expected"),
    [
        (5, [Step(5, SALE)], (Standing.SOLD_ONCE, 1, 1)),
        (5, [Step(5, SALE), Step(7, RETURN)], (Standing.RETURNED, 1, 1)),
        (5, [Step(3, RETURN), Step(5, SALE)], (Standing.SOLD_ONCE, 1, 1)),  # a return before it is not after it
        (5, [Step(5, SALE), Step(7, RETURN, undone=True)], (Standing.SOLD_ONCE, 1, 1)),
        (5, [Step(5, SALE), Step(7, RETURN), Step(9, SALE)], (Standing.SOLD_AGAIN, 2, 1)),
        (9, [Step(5, SALE), Step(7, RETURN), Step(9, SALE)], (Standing.SOLD_AGAIN, 2, 2)),
        (9, [Step(5, SALE, undone=True), Step(9, SALE)], (Standing.SOLD_ONCE, 1, 1)),  # a corrected sale
        (5, [Step(5, SALE, undone=True), Step(9, SALE)], (Standing.UNDONE, 1, None)),
        (6, [Step(4, PARTIAL), Step(6, PARTIAL)], (Standing.FROM_OPEN_PACK, 0, None)),
        (6, [Step(6, PARTIAL, undone=True)], (Standing.UNDONE, 0, None)),
        (8, [Step(5, SALE)], (Standing.NOT_FOUND, 1, None)),
        (7, [Step(5, SALE), Step(7, RETURN)], (Standing.NOT_FOUND, 1, None)),  # a return is no sale
        (5, [], (Standing.NOT_FOUND, 0, None)),
    ],
)
def test_what_a_receipt_s_sale_stands_as(event_id: int, steps: list[Step], expected: tuple[Standing, int, int]) -> None:
    state = standing(event_id, steps)
    assert (state.standing, state.sales, state.sale_number) == expected
    assert state.suspect is (expected[0] is Standing.SOLD_AGAIN)
    assert state.as_json() == {
        "standing": expected[0].value,
        "suspect": expected[0] is Standing.SOLD_AGAIN,
        "sales": expected[1],
        "sale_number": expected[2],
    }


# ------------------------------------------------------------------------------------------------ the worked example

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


def test_the_documented_example_checks_with_pyjwt_and_fails_when_changed() -> None:
    """docs/receipts.md's worked example, checked with PyJWT (an independent JOSE library) and the documented JWK."""
    text = DOC.read_text()
    [token] = re.findall(r"^eyJ[\w-]+\.[\w-]+\.[\w-]+$", text, flags=re.MULTILINE)
    [key] = [json.loads(line) for line in text.splitlines() if line.startswith('{"kty": "OKP"')]
    assert key["x"] == b64url(Signer(1, bytes(range(32))).public_bytes)  # the documented test key
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"])
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": "0001", "typ": RECEIPT_TYPE}
    assert claims == {
        "action": "sell",
        "channel": "offline",
        "event_id": 1042,
        "gtin": "09506000134352",
        "iss": "https://passport.example.cn",
        "log_index": 5310,
        "region": "CN-31",
        "serial": "ABC123XYZ",
        "sold_at": "2026-12-05T08:30:15+00:00",
    }
    assert f"{json.dumps(claims, separators=(',', ':'))}" in text  # the decoded payload shown is the signed one
    assert read_receipt(token, {"0001": Signer(1, bytes(range(32))).public_bytes}).serial == "ABC123XYZ"
    head, _, signature = token.split(".")
    changed = b64url(json.dumps({**claims, "region": "CN-11"}).encode())
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{changed}.{signature}", jwt.PyJWK(key).key, algorithms=["EdDSA"])
