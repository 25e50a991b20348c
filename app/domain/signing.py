"""Signed codes: the canonical message, Ed25519 (RFC 8032) signatures carried in GS1 AI 8030, and JWKS (RFC 8037).

The signed message is the UTF-8 GS1 element string ``01{gtin}21{serial}<GS>10{lot}<GS>17{YYMMDD}`` (``<GS>`` = 0x1D).
AI 8030 holds base64url without padding (RFC 4648 §5) of ``key_tag (2 bytes, big-endian) || signature (64 bytes)``,
88 characters. Ed25519 is deterministic, so re-signing a stored code reproduces its printed signature exactly.
The published description and test vectors are in ``passport_schema/signed-message.md``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import crypto_sign, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from app.domain.errors import InvalidCode
from app.domain.identifiers import GS

SIGNATURE_CHARS = 88
MAX_KEY_TAG = 0xFFFF


def signed_message(gtin: str, serial: str, lot: str, expiry: str) -> bytes:
    return f"01{gtin}21{serial}{GS}10{lot}{GS}17{expiry}".encode()


def kid(key_tag: int) -> str:
    return f"{key_tag:04x}"


def encode_signature(key_tag: int, signature: bytes) -> str:
    return base64.urlsafe_b64encode(key_tag.to_bytes(2, "big") + signature).rstrip(b"=").decode("ascii")


def decode_signature(value: str) -> tuple[int, bytes]:
    """Split an AI 8030 value into (key tag, 64-byte signature); raise ``invalid_signature_format``."""
    if len(value) != SIGNATURE_CHARS:
        raise InvalidCode(
            f"AI 8030 must be {SIGNATURE_CHARS} base64url characters, got {len(value)}",
            code="invalid_signature_format",
        )
    try:
        raw = base64.urlsafe_b64decode(value + "==")
    except (binascii.Error, ValueError):
        raise InvalidCode("AI 8030 is not base64url", code="invalid_signature_format") from None
    if len(raw) != 66 or encode_signature(int.from_bytes(raw[:2], "big"), raw[2:]) != value:
        raise InvalidCode("AI 8030 is not a canonical base64url encoding", code="invalid_signature_format")
    return int.from_bytes(raw[:2], "big"), raw[2:]


@dataclass(frozen=True, slots=True)
class Signer:
    """One signing key: its tag and its raw 32-byte Ed25519 seed (kept in memory only)."""

    key_tag: int
    private_bytes: bytes

    def sign(self, gtin: str, serial: str, lot: str, expiry: str) -> str:
        key = Ed25519PrivateKey.from_private_bytes(self.private_bytes)
        return encode_signature(self.key_tag, key.sign(signed_message(gtin, serial, lot, expiry)))

    @property
    def public_bytes(self) -> bytes:
        return public_key_bytes(self.private_bytes)


def sign_serials(
    private_bytes: bytes, key_tag: int, gtin: str, lot: str, expiry: str, serials: Sequence[str]
) -> list[str]:
    """Sign a run of serials of one batch; a plain function so a process pool can run it.

    Bulk signing uses libsodium (PyNaCl's bindings): 16.9 µs a signature against OpenSSL's 29.4 on the benchmark
    machine (docs/benchmarks.md, Issuance). Ed25519 is deterministic, so both give the same bytes; the tests check
    this against ``Signer.sign`` (OpenSSL) for every run they sign.
    """
    _, secret = crypto_sign_seed_keypair(private_bytes)  # libsodium's 64-byte key: seed || public key
    tag = key_tag.to_bytes(2, "big")
    head = f"01{gtin}21".encode()
    tail = f"{GS}10{lot}{GS}17{expiry}".encode()
    encode = base64.urlsafe_b64encode
    sign = crypto_sign  # returns signature (64 bytes) || message
    return [encode(tag + sign(head + s.encode() + tail, secret)[:64])[:SIGNATURE_CHARS].decode() for s in serials]


def public_key_bytes(private_bytes: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_bytes).public_key().public_bytes_raw()


# Every scan verifies one signature: libsodium (PyNaCl) does it in under half the time of OpenSSL (57 against
# 122 µs on the benchmark machine), so verification uses it; signing stays with cryptography, and the tests check
# that the two agree. Key objects are cached: there are only ever a handful of keys.
_verify_key = functools.lru_cache(maxsize=64)(VerifyKey)


def verify_signature(
    public_keys: Mapping[int, bytes], gtin: str, serial: str, lot: str, expiry: str, value: str
) -> str | None:
    """Check an AI 8030 value; return None when it verifies, else the reason it does not."""
    try:
        key_tag, signature = decode_signature(value)
    except InvalidCode:
        return "signature_malformed"
    public = public_keys.get(key_tag)
    if public is None:
        return "unknown_signing_key"
    try:
        _verify_key(public).verify(signed_message(gtin, serial, lot, expiry), signature)
    except BadSignatureError:
        return "signature_mismatch"
    return None


def jwk(key_tag: int, public_bytes: bytes) -> dict[str, str]:
    """An Ed25519 public key as an RFC 8037 JWK."""
    x = base64.urlsafe_b64encode(public_bytes).rstrip(b"=").decode("ascii")
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid(key_tag), "use": "sig", "alg": "EdDSA"}


# Private keys at rest: AES-256-GCM under the master key, with the key tag as associated data so a sealed
# key cannot be swapped onto another tag unnoticed.


def seal_private_key(master_key: bytes, key_tag: int, private_bytes: bytes, nonce: bytes) -> bytes:
    return nonce + AESGCM(master_key).encrypt(nonce, private_bytes, kid(key_tag).encode())


def open_private_key(master_key: bytes, key_tag: int, sealed: bytes) -> bytes:
    return AESGCM(master_key).decrypt(sealed[:12], sealed[12:], kid(key_tag).encode())
