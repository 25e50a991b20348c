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
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

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
    return sign_many([payload], signer, typ=typ)[0]


class CompactSigner:
    """``sign_compact`` with one key, its key expanded and its header encoded once: for a process that signs many
    tokens with the same key (a partner answer each, a bulk sale's receipts). It signs with libsodium (PyNaCl's
    bindings, as bulk signing does, app/domain/signing.py ``sign_serials``): 19 µs a signature against OpenSSL's
    40-60 on the benchmark machine. Ed25519 is deterministic, so both give the same bytes; the tests check the
    tokens against OpenSSL's signatures."""

    __slots__ = ("_head", "_secret", "key_tag")

    def __init__(self, signer: Signer, *, typ: str) -> None:
        self.key_tag = signer.key_tag
        self._head = b64url(canonical_json({"alg": "EdDSA", "kid": kid(signer.key_tag), "typ": typ}))
        self._secret = crypto_sign_seed_keypair(signer.private_bytes)[1]  # libsodium's 64 bytes: seed || public key

    def sign(self, payload: Mapping[str, Any]) -> str:
        return self.sign_text(canonical_json(payload))

    def sign_text(self, payload: bytes) -> str:
        """The JWS of a payload already in canonical JSON (``canonical_json``)."""
        signing_input = f"{self._head}.{b64url(payload)}"
        signed = crypto_sign(signing_input.encode("ascii"), self._secret)  # signature (64 bytes) || message
        return f"{signing_input}.{b64url(signed[:64])}"


def sign_many(payloads: Iterable[Mapping[str, Any]], signer: Signer, *, typ: str = "JOSE") -> list[str]:
    """``sign_compact`` of each payload with one expanded key and one encoded header (a bulk sale signs thousands:
    opening the key costs as much as a signature)."""
    sign = CompactSigner(signer, typ=typ).sign
    return [sign(payload) for payload in payloads]


def verify_compact(token: str, public_keys: Mapping[str, bytes], *, typ: str | None = None) -> dict[str, Any]:
    """The payload of a compact JWS signed by one of ``public_keys`` (by kid), of header ``typ`` when one is
    asked for; ``InvalidInput`` otherwise, whose ``extra["reason"]`` is ``malformed``, ``wrong_type``,
    ``unknown_key`` or ``bad_signature``."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidInput("a compact JWS has three parts", code="invalid_jws", reason="malformed")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):  # nesting deeper than Python recurses
        raise InvalidInput("a JWS part is not JSON", code="invalid_jws", reason="malformed") from None
    except InvalidInput as error:
        error.extra["reason"] = "malformed"
        raise
    if not isinstance(header, dict) or header.get("alg") != "EdDSA" or not isinstance(payload, dict):
        raise InvalidInput("only alg EdDSA over a JSON object is accepted", code="invalid_jws", reason="malformed")
    if typ is not None and header.get("typ") != typ:
        raise InvalidInput(f"the JWS is not of type {typ}", code="invalid_jws", reason="wrong_type")
    public = public_keys.get(str(header.get("kid")))
    if public is None:
        raise InvalidInput("the JWS names no known key", code="invalid_jws", reason="unknown_key")
    try:
        signature = b64url_decode(parts[2])
    except InvalidInput as error:
        error.extra["reason"] = "malformed"
        raise
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, f"{parts[0]}.{parts[1]}".encode())
    except InvalidSignature:
        raise InvalidInput("the JWS signature does not verify", code="invalid_jws", reason="bad_signature") from None
    return payload
