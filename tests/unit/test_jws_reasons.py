"""The machine reason every JWS refusal carries (``extra["reason"]``) and the default ``typ`` of a bulk signing
(issue 21: mutation testing found them unpinned)."""

from __future__ import annotations

import base64
import json

import pytest

from app.domain.errors import InvalidInput
from app.domain.jws import b64url, sign_compact, sign_many, verify_compact
from app.domain.signing import Signer

SIGNER = Signer(10, bytes(range(32)))
KEYS = {"000a": SIGNER.public_bytes}


def _part(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _refusal(token: str, **kwargs: str) -> tuple[str, str, object]:
    with pytest.raises(InvalidInput) as caught:
        verify_compact(token, KEYS, **kwargs)
    return caught.value.code, caught.value.detail, caught.value.extra.get("reason")


def test_a_part_that_is_not_json_is_malformed() -> None:
    token = f"{b64url(b'not json')}.{_part({})}.AAAA"
    assert _refusal(token) == ("invalid_jws", "a JWS part is not JSON", "malformed")


def test_a_part_that_is_not_base64url_is_malformed() -> None:
    code, _, reason = _refusal(f"a!b.{_part({})}.AAAA")
    assert (code, reason) == ("invalid_jws", "malformed")


@pytest.mark.parametrize(
    ("header", "payload"),
    [({"alg": "HS256", "kid": "000a"}, {}), ({"alg": "EdDSA", "kid": "000a"}, [1]), (["EdDSA"], {})],
)
def test_another_algorithm_or_a_non_object_is_malformed(header: object, payload: object) -> None:
    assert _refusal(f"{_part(header)}.{_part(payload)}.AAAA") == (
        "invalid_jws",
        "only alg EdDSA over a JSON object is accepted",
        "malformed",
    )


def test_a_token_of_another_type_is_refused_in_full() -> None:
    token = sign_compact({"a": 1}, SIGNER, typ="receipt+jwt")
    assert verify_compact(token, KEYS, typ="receipt+jwt") == {"a": 1}
    assert _refusal(token, typ="passport+jwt") == ("invalid_jws", "the JWS is not of type passport+jwt", "wrong_type")


def test_a_bulk_signing_is_of_type_jose_by_default() -> None:
    tokens = sign_many([{"a": 1}, {"a": 2}], SIGNER)
    for token, a in zip(tokens, (1, 2), strict=True):
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert header["typ"] == "JOSE"
        assert verify_compact(token, KEYS, typ="JOSE") == {"a": a}
