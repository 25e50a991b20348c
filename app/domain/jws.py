"""Compact JSON Web Signatures (RFC 7515 §7.1) with EdDSA over Ed25519 (RFC 8037 §3.1), for answers a partner keeps.

``BASE64URL(UTF8(header)) || '.' || BASE64URL(payload) || '.' || BASE64URL(signature)``, base64url without padding
(RFC 7515 §2), the signature Ed25519 over the ASCII of the first two parts. The protected header is
``{"alg": "EdDSA", "kid": ..., "typ": ...}``; ``kid`` names a key of ``/.well-known/jwks.json`` (app/domain/signing.py
``jwk``). The payload is canonical JSON (sorted keys, no spaces, UTF-8), so the bytes signed can be rebuilt from the
answer itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.domain.errors import InvalidInput
from app.domain.signing import Signer, kid


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if "=" in text:
        raise InvalidInput("base64url in a JWS carries no padding", code="invalid_jws")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidInput("not base64url", code="invalid_jws") from None


def canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_compact(payload: Mapping[str, Any], signer: Signer, *, typ: str = "JOSE") -> str:
    header = {"alg": "EdDSA", "kid": kid(signer.key_tag), "typ": typ}
    signing_input = f"{b64url(canonical_json(header))}.{b64url(canonical_json(payload))}"
    signature = Ed25519PrivateKey.from_private_bytes(signer.private_bytes).sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url(signature)}"


def verify_compact(token: str, public_keys: Mapping[str, bytes]) -> dict[str, Any]:
    """The payload of a compact JWS signed by one of ``public_keys`` (by kid); ``InvalidInput`` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidInput("a compact JWS has three parts", code="invalid_jws")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("a JWS part is not JSON", code="invalid_jws") from None
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or not isinstance(payload, dict):
        raise InvalidInput("only alg EdDSA over a JSON object is accepted", code="invalid_jws")
    public = public_keys.get(str(header.get("kid")))
    if public is None:
        raise InvalidInput("the JWS names no known key", code="invalid_jws")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(b64url_decode(parts[2]), f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature:
        raise InvalidInput("the JWS signature does not verify", code="invalid_jws") from None
    return payload
