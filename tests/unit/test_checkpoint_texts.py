"""Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint): each malformed input refused with its own
text, and the limits at their exact boundaries."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.domain.checkpoint import NoteError, open_note, parse_checkpoint, sign_note

SEED = bytes(range(32))
PUBLIC = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
NAME = "passport.example/log"
ROOT = base64.b64encode(bytes(32)).decode()
FIVE_BYTES = base64.b64encode(b"\x01\x02\x03\x04\x05").decode()  # a key id and one byte: too short to verify


def refusal(call: Callable[..., object], *args: object) -> str:
    with pytest.raises(NoteError) as info:
        call(*args)
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (f"origin\n1\n{ROOT}", "malformed checkpoint: the body must end in a newline"),
        (f"\n1\n{ROOT}\n", "malformed checkpoint: empty origin"),
        (f"origin\n1\n{ROOT}\n\n", "malformed checkpoint: empty extension line"),
    ],
)
def test_checkpoint_refusals(body: str, detail: str) -> None:
    assert refusal(parse_checkpoint, body) == detail


def test_note_refusals() -> None:
    assert refusal(sign_note, "body", NAME, SEED) == "malformed note: the text must end in a newline"
    assert refusal(open_note, "a\tb\n\n— x y\n", NAME, PUBLIC) == "malformed note: control character U+0009"
    assert refusal(open_note, "body\n", NAME, PUBLIC) == "malformed note: no blank line before the signatures"
    assert refusal(open_note, f"body\n\n— x {FIVE_BYTES}", NAME, PUBLIC) == (
        "malformed note: the signature lines must end in a newline"
    )
    assert refusal(open_note, "body\n\n— x AAAA!AAAAAA=\n", NAME, PUBLIC) == "malformed note signature: not base64"
    assert refusal(open_note, f"body\n\n— x {FIVE_BYTES} x\n", NAME, PUBLIC) == "malformed note signature: not base64"
    assert refusal(open_note, f"body\n\nx x {FIVE_BYTES}\n", NAME, PUBLIC) == (
        f"malformed note: 'x x {FIVE_BYTES}' is not a signature line"
    )


def no_signature_by_us() -> str:
    note = sign_note("body\n", NAME, SEED)
    key_hex = base64.b64decode(note.rsplit(" ", 1)[1])[:4].hex()
    return f"note has no signature by key {NAME}+{key_hex}"


def test_a_signature_of_five_bytes_is_read_four_are_too_short() -> None:
    assert refusal(open_note, f"body\n\n— other {FIVE_BYTES}\n", NAME, PUBLIC) == no_signature_by_us()
    four = base64.b64encode(b"\x01\x02\x03\x04").decode()
    assert refusal(open_note, f"body\n\n— other {four}\n", NAME, PUBLIC) == (
        "malformed note: signature of other is 4 bytes"
    )


def test_a_note_whose_body_is_empty_still_has_its_blank_line() -> None:
    assert refusal(open_note, f"\n\n— other {FIVE_BYTES}\n", NAME, PUBLIC) == no_signature_by_us()


def test_at_most_100_signature_lines_are_read() -> None:
    lines = "".join(f"— other{i} {FIVE_BYTES}\n" for i in range(100))
    assert refusal(open_note, f"body\n\n{lines}", NAME, PUBLIC) == no_signature_by_us()
    assert refusal(open_note, f"body\n\n{lines}— more {FIVE_BYTES}\n", NAME, PUBLIC) == (
        "malformed note: 101 signatures, at most 100 are read"
    )
