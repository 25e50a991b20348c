"""Checkpoints of the log: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519 (RFC 8032).

Body (https://c2sp.org/tlog-checkpoint): the origin, the tree size in ASCII decimal without leading zeros, and the
base64 (RFC 4648 §4) root hash, each ending in a newline, then optional non-empty extension lines.
Note (https://c2sp.org/signed-note): the body, a blank line, then signature lines
``— <key name> base64(key ID || signature)`` (U+2014, space). The Ed25519 signature type is 0x01; the signature
covers the body bytes, final newline included; the key ID is SHA-256(key name || 0x0A || 0x01 || public key)[:4].
Verifier keys are written as golang.org/x/mod/sumdb/note writes them: ``<name>+<hex key ID>+base64(0x01 || key)``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "
MAX_SIGNATURES = 100  # signed-note: verifiers must accept at least 16; x/mod/sumdb/note stops at 100
ROOT_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note or checkpoint that is malformed, unsigned by the expected key, or badly signed."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


def _check_text(text: str, what: str) -> None:
    """Signed notes are UTF-8 without ASCII control characters other than newline."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise NoteError(f"malformed {what}: not valid UTF-8") from None
    for char in text:
        if char < " " and char != "\n":
            raise NoteError(f"malformed {what}: control character U+{ord(char):04X}")


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(char.isspace() or char < " " for char in name)


def _b64decode(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise NoteError(f"malformed {what}: not base64") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise NoteError(f"malformed {what}: not canonical base64")
    return raw


def checkpoint_body(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """The note text of a checkpoint; NoteError if it would not parse back to the same values."""
    if len(root) != ROOT_SIZE:
        raise NoteError(f"malformed checkpoint: root hash is {len(root)} bytes, want {ROOT_SIZE}")
    lines = [origin, str(size), base64.b64encode(root).decode("ascii"), *extensions]
    body = "".join(line + "\n" for line in lines)
    if parse_checkpoint(body) != Checkpoint(origin, size, root, tuple(extensions)):
        raise NoteError(f"malformed checkpoint: origin {origin!r} or an extension line holds a newline")
    return body


def parse_checkpoint(body: str) -> Checkpoint:
    """Read a checkpoint body strictly; NoteError says what is wrong."""
    _check_text(body, "checkpoint")
    if not body.endswith("\n"):
        raise NoteError("malformed checkpoint: the body must end in a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError(f"malformed checkpoint: {len(lines)} lines, want origin, size and root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise NoteError("malformed checkpoint: empty origin")
    if not _DECIMAL.fullmatch(size_text):
        raise NoteError(f"malformed checkpoint: tree size {size_text!r} is not a decimal without leading zeros")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise NoteError(f"malformed checkpoint: tree size {size} does not fit 64 bits")
    root = _b64decode(root_text, "checkpoint root hash")
    if len(root) != ROOT_SIZE:
        raise NoteError(f"malformed checkpoint: root hash is {len(root)} bytes, want {ROOT_SIZE}")
    if not all(extensions):
        raise NoteError("malformed checkpoint: empty extension line")
    return Checkpoint(origin, size, root, tuple(extensions))


def note_key_id(name: str, public_key_bytes: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public_key_bytes).digest()[:4]


def verifier_key(name: str, public_key_bytes: bytes) -> str:
    if not _valid_name(name) or len(public_key_bytes) != 32:
        raise NoteError(f"invalid verifier key: name {name!r}, {len(public_key_bytes)}-byte public key")
    encoded = base64.b64encode(ED25519 + public_key_bytes).decode("ascii")
    return f"{name}+{note_key_id(name, public_key_bytes).hex()}+{encoded}"


def sign_note(body: str, name: str, private_key_bytes: bytes) -> str:
    """The signed note: ``body``, a blank line and one Ed25519 signature line by key ``name``."""
    if not _valid_name(name):
        raise NoteError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")
    _check_text(body, "note")
    if not body.endswith("\n"):
        raise NoteError("malformed note: the text must end in a newline")
    key = Ed25519PrivateKey.from_private_bytes(private_key_bytes)
    key_id = note_key_id(name, key.public_key().public_bytes_raw())
    signature = base64.b64encode(key_id + key.sign(body.encode())).decode("ascii")
    return f"{body}\n{SIGNATURE_PREFIX}{name} {signature}\n"


def note_signatures(text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its body (final newline included) and its signature lines as (key name, key ID ||
    signature); NoteError for a note that is malformed. Nothing is verified here."""
    _check_text(text, "note")
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note: the signature lines must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: {len(lines)} signatures, at most {MAX_SIGNATURES} are read")
    signatures = []
    for line in lines:
        signer, space, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        if not line.startswith(SIGNATURE_PREFIX) or not space or not _valid_name(signer) or not encoded:
            raise NoteError(f"malformed note: {line!r} is not a signature line")
        raw = _b64decode(encoded, "note signature")
        if len(raw) < 5:
            raise NoteError(f"malformed note: signature of {signer} is {len(raw)} bytes")
        signatures.append((signer, raw))
    return body, signatures


def verify_note_signature(
    body: str, signatures: Sequence[tuple[str, bytes]], name: str, public_key_bytes: bytes
) -> bool:
    """Whether key ``name`` signed ``body`` among ``signatures`` (others' lines are ignored, as signed-note requires);
    NoteError for a line under this key whose signature does not verify."""
    public_key = Ed25519PublicKey.from_public_bytes(public_key_bytes)
    key_id = note_key_id(name, public_key_bytes)
    verified = False
    for signer, raw in signatures:
        if signer != name or raw[:4] != key_id:
            continue
        try:
            public_key.verify(raw[4:], body.encode())
        except InvalidSignature:
            raise NoteError(f"bad signature by key {name}+{key_id.hex()}") from None
        verified = True
    return verified


def open_note(text: str, name: str, public_key_bytes: bytes) -> str:
    """The body of a note signed by key ``name``; signatures by other keys are ignored, as signed-note requires."""
    public_key_bytes = Ed25519PublicKey.from_public_bytes(public_key_bytes).public_bytes_raw()
    body, signatures = note_signatures(text)
    if not verify_note_signature(body, signatures, name, public_key_bytes):
        raise NoteError(f"note has no signature by key {name}+{note_key_id(name, public_key_bytes).hex()}")
    return body
