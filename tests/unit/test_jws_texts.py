"""Compact JWS details (app/domain/jws.py): the default typ, canonical bytes and every refusal text (issue 21)."""

from __future__ import annotations

import base64
import json

import pytest

from app.domain.errors import InvalidInput
from app.domain.jws import b64url, b64url_decode, canonical_json, sign_compact, verify_compact
from app.domain.signing import Signer

SIGNER = Signer(10, bytes(range(32)))
KEYS = {"000a": SIGNER.public_bytes}


def part(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def refusal(token: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        verify_compact(token, KEYS)
    assert caught.value.code == "invalid_jws"
    return caught.value.detail


def test_the_default_type_is_jose() -> None:
    head = sign_compact({"a": 1}, SIGNER).split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))) == {
        "alg": "EdDSA",
        "kid": "000a",
        "typ": "JOSE",
    }


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": [1, 2], "a": "é"}) == '{"a":"é","b":[1,2]}'.encode()


def test_base64url_has_no_padding_both_ways() -> None:
    assert b64url(b"\xfb\xff") == "-_8"
    assert b64url(b"\x00\x00\x17") == "AAAX"  # only padding is stripped, never a final X
    assert b64url_decode("-_8") == b"\xfb\xff"
    assert b64url_decode("YQ") == b"a"


def test_a_round_trip_gives_the_payload() -> None:
    assert verify_compact(sign_compact({"n": "ü"}, SIGNER), KEYS) == {"n": "ü"}


def test_every_refusal_says_why() -> None:
    good = sign_compact({"a": 1}, SIGNER)
    head, body, signature = good.split(".")
    assert refusal("a.b") == "a compact JWS has three parts"
    assert refusal(f"{head}=.{body}.{signature}") == "base64url in a JWS carries no padding"
    assert refusal(f"{head}.{body}.a") == "not base64url"
    assert refusal(f"{head}.{b64url(b'{nope')}.{signature}") == "a JWS part is not JSON"
    only = "only alg EdDSA over a JSON object is accepted"
    assert refusal(f"{part({'alg': 'none', 'kid': '000a'})}.{body}.{signature}") == only
    assert refusal(f"{part(['EdDSA'])}.{body}.{signature}") == only
    assert refusal(f"{head}.{part([1])}.{signature}") == only
    assert refusal(f"{part({'alg': 'EdDSA', 'kid': 'ffff'})}.{body}.{signature}") == "the JWS names no known key"
    assert refusal(f"{head}.{part({'a': 2})}.{signature}") == "the JWS signature does not verify"
