"""Unit tests of signed codes: the signed message, AI 8030 encoding, Ed25519, sealed keys and JWKS."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from app.domain.errors import InvalidCode
from app.domain.identifiers import UnitCode, parse_code
from app.domain.signing import (
    SIGNATURE_CHARS,
    Signer,
    decode_signature,
    encode_signature,
    jwk,
    kid,
    open_private_key,
    public_key_bytes,
    seal_private_key,
    sign_serials,
    signed_message,
    verify_signature,
)
from tests.strategies import CSET82_TEXT, YYMMDD, gtins

# RFC 8032 §7.1 TEST 1 key pair (also the RFC 8037 Appendix A.1 JWK example).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
TAG = 0x0102
SIGNER = Signer(TAG, SEED)
KEYS = {TAG: SIGNER.public_bytes}
GTIN = "09506000134352"
SERIAL = "7Q2K9M4XW8RT"
LOT = "LOT42"
EXPIRY = "281231"
B64URL = re.compile(r"[A-Za-z0-9_-]*")

CRYPTO = settings(max_examples=30, deadline=None)


def flip(value: str, index: int, mask: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(value))
    raw[index] ^= mask
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


# --------------------------------------------------------------------------------------------- the message


def test_signed_message_exact_bytes() -> None:
    assert signed_message(GTIN, SERIAL, LOT, EXPIRY) == (b"0109506000134352217Q2K9M4XW8RT\x1d10LOT42\x1d17281231")
    assert signed_message(GTIN, "A", "B", "280200") == b"010950600013435221A\x1d10B\x1d17280200"


@given(gtins(), CSET82_TEXT, CSET82_TEXT, YYMMDD)
def test_signed_message_is_the_gs1_element_string(gtin: str, serial: str, lot: str, expiry: str) -> None:
    message = signed_message(gtin, serial, lot, expiry)
    assert message == f"01{gtin}21{serial}\x1d10{lot}\x1d17{expiry}".encode("ascii")
    # It is the raw element string a scanner would send, so the strict parser reads it back (the parser
    # takes a literal "<GS>" for a separator, so values containing that text are left out here).
    assume("<GS>" not in serial + lot)
    assert parse_code(message.decode("ascii")) == UnitCode(gtin, serial, lot, expiry)


def test_signed_message_separates_fields() -> None:
    # The GS separator prevents serial/lot boundary shifts from producing the same message.
    assert signed_message(GTIN, "AB", "C", EXPIRY) != signed_message(GTIN, "A", "BC", EXPIRY)


# ----------------------------------------------------------------------------------------- AI 8030 encoding


def test_encode_signature_known_value() -> None:
    assert encode_signature(1, bytes(64)) == "AAEA" + "A" * 84
    assert encode_signature(0xFFFF, b"\xff" * 64) == "_" * 88
    assert encode_signature(0xFBEF, bytes(64))[:3] == "--8"


@given(st.integers(0, 0xFFFF), st.binary(min_size=64, max_size=64))
def test_signature_encoding_round_trip(key_tag: int, signature: bytes) -> None:
    value = encode_signature(key_tag, signature)
    assert len(value) == SIGNATURE_CHARS == 88
    assert B64URL.fullmatch(value)
    assert "=" not in value
    assert decode_signature(value) == (key_tag, signature)
    assert base64.urlsafe_b64decode(value) == key_tag.to_bytes(2, "big") + signature


@given(
    st.text(
        alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        min_size=88,
        max_size=88,
    )
)
def test_every_88_char_base64url_string_decodes(value: str) -> None:
    # 88 characters are exactly 66 bytes: no padding, no spare bits, so every such string is canonical.
    key_tag, signature = decode_signature(value)
    assert 0 <= key_tag <= 0xFFFF and len(signature) == 64
    assert encode_signature(key_tag, signature) == value


VALID = encode_signature(0xFBFF, b"\xfb\xff" * 32)


def test_valid_sample_uses_the_url_safe_characters() -> None:
    assert "-" in VALID and "_" in VALID


@pytest.mark.parametrize(
    "value",
    [
        "",
        "A" * 87,
        "A" * 89,
        "A" * 86 + "==",  # padded form of a 64-byte value, 88 characters
        VALID[:-1],
        VALID + "A",
        VALID.replace("-", "+").replace("_", "/"),  # standard base64 alphabet, not URL-safe
        VALID[:-1] + "=",
        VALID[:-1] + "!",
        VALID[:10] + " " + VALID[11:],
        VALID[:10] + "." + VALID[11:],
        VALID[:10] + "é" + VALID[11:],
        VALID[:10] + "\x00" + VALID[11:],
        "=" * 88,
    ],
)
def test_malformed_signature_values(value: str) -> None:
    with pytest.raises(InvalidCode) as info:
        decode_signature(value)
    assert info.value.code == "invalid_signature_format"
    assert "AI 8030" in str(info.value)
    assert verify_signature(KEYS, GTIN, SERIAL, LOT, EXPIRY, value) == "signature_malformed"


@given(
    st.text(
        alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        min_size=87,
        max_size=87,
    ),
    st.integers(0, 87),
    st.characters(exclude_characters="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
)
def test_any_foreign_character_is_rejected(base: str, index: int, char: str) -> None:
    value = base[:index] + char + base[index:]
    assert len(value) == 88
    with pytest.raises(InvalidCode) as info:
        decode_signature(value)
    assert info.value.code == "invalid_signature_format"


def test_wrong_length_message() -> None:
    with pytest.raises(InvalidCode, match="must be 88 base64url characters, got 87"):
        decode_signature("A" * 87)


# --------------------------------------------------------------------------------------------- Ed25519


def test_public_key_matches_rfc8032() -> None:
    assert public_key_bytes(RFC8032_SECRET) == RFC8032_PUBLIC
    assert Signer(1, RFC8032_SECRET).public_bytes == RFC8032_PUBLIC


def test_sign_and_verify() -> None:
    value = SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY)
    assert len(value) == 88
    assert decode_signature(value)[0] == TAG
    assert value.startswith("AQ")  # 0x01 0x02: the first 12 bits are 000000 010000
    assert verify_signature(KEYS, GTIN, SERIAL, LOT, EXPIRY, value) is None


def test_ed25519_is_deterministic() -> None:
    first = SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY)
    assert Signer(TAG, bytes(SEED)).sign(GTIN, SERIAL, LOT, EXPIRY) == first
    assert SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY) == first
    assert Signer(TAG, OTHER_SEED).sign(GTIN, SERIAL, LOT, EXPIRY) != first
    # Same key, another key tag: the same 64 signature bytes under a different 2-byte prefix.
    other_tag = Signer(TAG + 1, SEED).sign(GTIN, SERIAL, LOT, EXPIRY)
    assert decode_signature(other_tag)[1] == decode_signature(first)[1]
    assert other_tag != first


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gtin", "09520123456788"),
        ("serial", "7Q2K9M4XW8RU"),
        ("serial", "7q2k9m4xw8rt"),  # case swap by a scanner
        ("lot", "LOT43"),
        ("lot", "LOT422"),
        ("expiry", "281230"),
        ("expiry", "281200"),  # same day by the GS1 rule, but not the signed bytes
    ],
)
def test_any_changed_field_breaks_the_signature(field: str, value: str) -> None:
    sig = SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY)
    original = {"gtin": GTIN, "serial": SERIAL, "lot": LOT, "expiry": EXPIRY}
    args = original | {field: value}
    assert args[field] != original[field]
    assert verify_signature(KEYS, args["gtin"], args["serial"], args["lot"], args["expiry"], sig) == (
        "signature_mismatch"
    )


@CRYPTO
@given(st.integers(2, 65), st.integers(1, 255))
def test_any_changed_signature_byte_is_a_mismatch(index: int, mask: int) -> None:
    sig = SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY)
    tampered = flip(sig, index, mask)
    assert tampered != sig and len(tampered) == 88
    assert verify_signature(KEYS, GTIN, SERIAL, LOT, EXPIRY, tampered) == "signature_mismatch"


@CRYPTO
@given(st.integers(0, 1), st.integers(1, 255))
def test_changed_key_tag_byte_is_an_unknown_key(index: int, mask: int) -> None:
    tampered = flip(SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY), index, mask)
    assert verify_signature(KEYS, GTIN, SERIAL, LOT, EXPIRY, tampered) == "unknown_signing_key"


def test_unknown_and_wrong_keys() -> None:
    sig = SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY)
    assert verify_signature({}, GTIN, SERIAL, LOT, EXPIRY, sig) == "unknown_signing_key"
    assert verify_signature({TAG + 1: SIGNER.public_bytes}, GTIN, SERIAL, LOT, EXPIRY, sig) == "unknown_signing_key"
    # Right tag, wrong public key.
    wrong = {TAG: public_key_bytes(OTHER_SEED)}
    assert verify_signature(wrong, GTIN, SERIAL, LOT, EXPIRY, sig) == "signature_mismatch"
    # Rotated keys: the verifier picks the key by tag among several.
    rotated = {1: public_key_bytes(OTHER_SEED), TAG: SIGNER.public_bytes, 0xFFFF: RFC8032_PUBLIC}
    assert verify_signature(rotated, GTIN, SERIAL, LOT, EXPIRY, sig) is None


@CRYPTO
@given(
    gtins(),
    CSET82_TEXT,
    YYMMDD,
    st.lists(CSET82_TEXT, min_size=0, max_size=8),
    st.integers(0, 0xFFFF),
    st.binary(min_size=32, max_size=32),
)
def test_sign_serials_matches_signer(
    gtin: str, lot: str, expiry: str, serials: list[str], key_tag: int, seed: bytes
) -> None:
    signer = Signer(key_tag, seed)
    batch = sign_serials(seed, key_tag, gtin, lot, expiry, serials)
    assert batch == [signer.sign(gtin, s, lot, expiry) for s in serials]
    keys = {key_tag: signer.public_bytes}
    for serial, value in zip(serials, batch, strict=True):
        assert len(value) == 88
        assert verify_signature(keys, gtin, serial, lot, expiry, value) is None


@CRYPTO
@given(gtins(), CSET82_TEXT, CSET82_TEXT, YYMMDD, st.binary(min_size=32, max_size=32))
def test_pynacl_agrees(gtin: str, serial: str, lot: str, expiry: str, seed: bytes) -> None:
    """An independent Ed25519 implementation (libsodium) verifies our signatures and makes the same bytes."""
    signer = Signer(7, seed)
    value = signer.sign(gtin, serial, lot, expiry)
    key_tag, signature = decode_signature(value)
    assert key_tag == 7
    message = signed_message(gtin, serial, lot, expiry)
    verify_key = VerifyKey(signer.public_bytes)
    assert verify_key.verify(message, signature) == message
    assert bytes(SigningKey(seed).verify_key) == signer.public_bytes
    assert SigningKey(seed).sign(message).signature == signature
    with pytest.raises(BadSignatureError):
        verify_key.verify(message + b"0", signature)
    # And the other way round: libsodium's signature verifies with ours.
    nacl_value = encode_signature(7, SigningKey(seed).sign(message).signature)
    assert verify_signature({7: signer.public_bytes}, gtin, serial, lot, expiry, nacl_value) is None


@CRYPTO
@given(gtins(), CSET82_TEXT, YYMMDD, st.binary(min_size=32, max_size=32), st.integers(0, 63), st.integers(1, 255))
def test_openssl_and_our_verification_agree(
    gtin: str, serial: str, expiry: str, seed: bytes, position: int, flip: int
) -> None:
    """We sign with OpenSSL and verify with libsodium: on a good signature and on one with a byte changed, both
    libraries give the same answer."""
    signer = Signer(3, seed)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    message = signed_message(gtin, serial, "L1", expiry)
    good = decode_signature(signer.sign(gtin, serial, "L1", expiry))[1]
    bad = bytearray(good)
    bad[position] ^= flip
    for signature in (good, bytes(bad)):
        try:
            public.verify(signature, message)
            openssl = None
        except InvalidSignature:
            openssl = "signature_mismatch"
        ours = verify_signature({3: signer.public_bytes}, gtin, serial, "L1", expiry, encode_signature(3, signature))
        assert ours == openssl
    assert openssl == "signature_mismatch"  # the changed byte never verifies


def test_pynacl_verifies_through_the_published_jwk() -> None:
    value = SIGNER.sign(GTIN, SERIAL, LOT, EXPIRY)
    key = jwk(TAG, SIGNER.public_bytes)
    public = base64.urlsafe_b64decode(key["x"] + "=")
    _, signature = decode_signature(value)
    assert kid(decode_signature(value)[0]) == key["kid"]
    VerifyKey(public).verify(signed_message(GTIN, SERIAL, LOT, EXPIRY), signature)


# --------------------------------------------------------------------------------------------- JWKS


def test_jwk_rfc8037_example() -> None:
    key = jwk(0x0001, RFC8032_PUBLIC)
    assert key["kty"] == "OKP"
    assert key["crv"] == "Ed25519"
    assert key["x"] == RFC8037_X
    assert key["kid"] == "0001"
    assert key["use"] == "sig"
    assert "d" not in key  # never the private part


@pytest.mark.parametrize(
    ("key_tag", "expected"), [(0, "0000"), (1, "0001"), (0xABCD, "abcd"), (0xFFFF, "ffff"), (0x0A0B, "0a0b")]
)
def test_kid(key_tag: int, expected: str) -> None:
    assert kid(key_tag) == expected
    assert jwk(key_tag, RFC8032_PUBLIC)["kid"] == expected


@given(st.integers(0, 0xFFFF), st.binary(min_size=32, max_size=32))
def test_jwk_shape(key_tag: int, public: bytes) -> None:
    key = jwk(key_tag, public)
    assert re.fullmatch(r"[0-9a-f]{4}", key["kid"])
    assert int(key["kid"], 16) == key_tag
    assert len(key["x"]) == 43 and "=" not in key["x"] and B64URL.fullmatch(key["x"])
    assert base64.urlsafe_b64decode(key["x"] + "=") == public
    assert {key["kty"], key["crv"]} == {"OKP", "Ed25519"}


# --------------------------------------------------------------------------------------------- keys at rest

MASTER = bytes(range(100, 132))
NONCE = bytes(range(12))


def test_seal_and_open_round_trip() -> None:
    sealed = seal_private_key(MASTER, TAG, SEED, NONCE)
    assert sealed[:12] == NONCE
    assert len(sealed) == 12 + 32 + 16  # nonce, ciphertext, GCM tag
    assert SEED not in sealed
    assert open_private_key(MASTER, TAG, sealed) == SEED
    assert seal_private_key(MASTER, TAG, SEED, bytes(12)) != sealed


def test_open_with_wrong_key_tag_fails() -> None:
    sealed = seal_private_key(MASTER, TAG, SEED, NONCE)
    with pytest.raises(InvalidTag):
        open_private_key(MASTER, TAG + 1, sealed)


def test_open_with_wrong_master_key_fails() -> None:
    sealed = seal_private_key(MASTER, TAG, SEED, NONCE)
    with pytest.raises(InvalidTag):
        open_private_key(bytes(32), TAG, sealed)


@settings(max_examples=50)
@given(st.integers(0, 59), st.integers(1, 255))
def test_tampered_sealed_key_fails(index: int, mask: int) -> None:
    sealed = bytearray(seal_private_key(MASTER, TAG, SEED, NONCE))
    sealed[index] ^= mask
    with pytest.raises(InvalidTag):
        open_private_key(MASTER, TAG, bytes(sealed))


@settings(max_examples=30)
@given(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 0xFFFF),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=12, max_size=12),
)
def test_seal_round_trip_property(master: bytes, key_tag: int, private: bytes, nonce: bytes) -> None:
    assert open_private_key(master, key_tag, seal_private_key(master, key_tag, private, nonce)) == private
