"""Checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519 key IDs and verifier keys.

Published vectors, typed here from their sources:
- golang.org/x/mod, sumdb/note/note_test.go (github.com/golang/mod, stored copy at commit
  02c991387e35f9e4c0a9b7ce137717055f8d716d): the PeterNeumann signer and verifier keys and signed note (TestSign,
  TestOpen), the EnochRoot verifier key and signature (TestOpen, TestVerifierList), and TestOpen's malformed notes.
- C2SP tlog-checkpoint.md (github.com/C2SP/C2SP, commit 2793893976c835db049c194d8f2c4f946dcb70ba): the example
  checkpoint of example.com/behind-the-sofa (its public key is not published, so only its shape is checked).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.domain.checkpoint import (
    Checkpoint,
    NoteError,
    checkpoint_body,
    note_key_id,
    open_note,
    parse_checkpoint,
    sign_note,
    verifier_key,
)
from app.domain.merkle import leaf_hash

PETER_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VERIFIER_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_B64 = "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
PETER_SIG = f"— PeterNeumann {PETER_B64}\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+"
    "xeMcTOAYQ8=\n"
)


def key_material(encoded: str) -> bytes:
    """The key bytes after the 0x01 (Ed25519) type byte; the base64 itself may hold '+'."""
    raw = base64.b64decode(encoded)
    assert raw[0] == 1
    return raw[1:]


PETER_SEED = key_material(PETER_SIGNER_KEY.split("+", 4)[4])  # PRIVATE+KEY+<name>+<id>+<base64>
PETER_PUBLIC = key_material(PETER_VERIFIER_KEY.split("+", 2)[2])  # <name>+<id>+<base64>
ENOCH_PUBLIC = key_material(ENOCH_VERIFIER_KEY.split("+", 2)[2])

LOG_NAME = "passport.example/log"
LOG_SEED = bytes(range(32))
LOG_PUBLIC = Ed25519PrivateKey.from_private_bytes(LOG_SEED).public_key().public_bytes_raw()
OTHER_SEED = bytes(range(1, 33))
OTHER_PUBLIC = Ed25519PrivateKey.from_private_bytes(OTHER_SEED).public_key().public_bytes_raw()
ROOT = leaf_hash(b"root")


def signed_checkpoint(size: int = 42, root: bytes = ROOT) -> str:
    return sign_note(checkpoint_body(LOG_NAME, size, root), LOG_NAME, LOG_SEED)


# Published x/mod/sumdb/note vectors.


def test_key_ids_and_verifier_keys_match_the_go_examples():
    derived = Ed25519PrivateKey.from_private_bytes(PETER_SEED).public_key().public_bytes_raw()
    assert derived == PETER_PUBLIC
    assert note_key_id("PeterNeumann", PETER_PUBLIC).hex() == "c74f20a3"
    assert verifier_key("PeterNeumann", PETER_PUBLIC) == PETER_VERIFIER_KEY
    assert note_key_id("EnochRoot", ENOCH_PUBLIC).hex() == "af0cfe78"
    assert verifier_key("EnochRoot", ENOCH_PUBLIC) == ENOCH_VERIFIER_KEY


def test_sign_note_reproduces_the_go_signature_byte_for_byte():
    assert sign_note(GO_TEXT, "PeterNeumann", PETER_SEED) == GO_TEXT + "\n" + PETER_SIG


def test_open_note_verifies_the_go_notes():
    assert open_note(GO_TEXT + "\n" + PETER_SIG, "PeterNeumann", PETER_PUBLIC) == GO_TEXT
    both = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(both, "PeterNeumann", PETER_PUBLIC) == GO_TEXT  # EnochRoot's line is another key's: ignored
    assert open_note(both, "EnochRoot", ENOCH_PUBLIC) == GO_TEXT


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        "\udcff" + GO_TEXT + "\n" + PETER_SIG,  # the Go test's invalid UTF-8 byte 0xff, as Python decodes it
        GO_TEXT + "\n" + "— Bad Name " + PETER_B64,
        GO_TEXT + "\n" + "— Bad Name " + PETER_B64 + "\n",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG * 101,
    ],
    ids=[
        "no-signatures",
        "blank-line-only",
        "no-final-newline",
        "control-char",
        "not-utf8",
        "name-with-space",
        "name-with-space-newline",
        "unexpected-line",
        "101-signatures",
    ],
)
def test_open_note_refuses_the_go_malformed_notes(note):
    with pytest.raises(NoteError, match="malformed"):
        open_note(note, "PeterNeumann", PETER_PUBLIC)


def test_open_note_refuses_the_go_invalid_signature():
    tampered = f"— PeterNeumann {PETER_B64[:43]}ABCD{PETER_B64[43:]}\n"  # TestOpen's peterSig[:60]+"ABCD"+peterSig[60:]
    with pytest.raises(NoteError, match=r"bad signature by key PeterNeumann\+c74f20a3"):
        open_note(GO_TEXT + "\n" + tampered, "PeterNeumann", PETER_PUBLIC)


def test_open_note_ignores_signatures_whose_name_or_key_id_differ():
    misnamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    wrong_id = PETER_SIG.replace("x08g", "xxxx")
    for line in (misnamed, wrong_id):
        with pytest.raises(NoteError, match=r"no signature by key PeterNeumann\+c74f20a3"):
            open_note(GO_TEXT + "\n" + line, "PeterNeumann", PETER_PUBLIC)


# The C2SP example checkpoint.


def test_the_c2sp_example_checkpoint_parses_and_its_unknown_signature_is_ignored():
    body = C2SP_EXAMPLE.split("\n\n")[0] + "\n"
    checkpoint = parse_checkpoint(body)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint_body(checkpoint.origin, checkpoint.size, checkpoint.root) == body
    with pytest.raises(NoteError, match=r"no signature by key example\.com/behind-the-sofa\+"):
        open_note(C2SP_EXAMPLE, "example.com/behind-the-sofa", LOG_PUBLIC)  # not the example's (unpublished) key
    with pytest.raises(NoteError, match="no signature"):
        open_note(C2SP_EXAMPLE, LOG_NAME, LOG_PUBLIC)


# The service's checkpoints.


def test_checkpoint_round_trip():
    body = checkpoint_body(LOG_NAME, 42, ROOT)
    assert body == f"{LOG_NAME}\n42\n{base64.b64encode(ROOT).decode()}\n"
    note = sign_note(body, LOG_NAME, LOG_SEED)
    signature_line = note.removeprefix(body + "\n")
    assert signature_line.startswith(f"\u2014 {LOG_NAME} ") and signature_line.endswith("\n")
    raw = base64.b64decode(signature_line.split(" ")[2])
    assert raw[:4] == note_key_id(LOG_NAME, LOG_PUBLIC) and len(raw) == 68
    assert sign_note(body, LOG_NAME, LOG_SEED) == note  # Ed25519 is deterministic
    assert parse_checkpoint(open_note(note, LOG_NAME, LOG_PUBLIC)) == Checkpoint(LOG_NAME, 42, ROOT)


def test_empty_tree_and_extension_lines_round_trip():
    body = checkpoint_body(LOG_NAME, 0, ROOT, ["ext one", "ext two"])
    note = sign_note(body, LOG_NAME, LOG_SEED)
    assert parse_checkpoint(open_note(note, LOG_NAME, LOG_PUBLIC)) == Checkpoint(
        LOG_NAME, 0, ROOT, ("ext one", "ext two")
    )


def test_a_note_text_with_blank_lines_is_split_at_the_last_one():
    text = "first\n\nthird\n"
    assert open_note(sign_note(text, LOG_NAME, LOG_SEED), LOG_NAME, LOG_PUBLIC) == text


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"{LOG_NAME}\n", "passport.example/other\n"),
        ("\n42\n", "\n43\n"),
        ("\n42\n", "\n4200\n"),
        (base64.b64encode(ROOT).decode(), base64.b64encode(leaf_hash(b"other")).decode()),
    ],
    ids=["origin", "size", "size-grown", "root"],
)
def test_a_tampered_body_fails(old, new):
    note = signed_checkpoint()
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(NoteError, match="bad signature"):
        open_note(tampered, LOG_NAME, LOG_PUBLIC)


def test_a_tampered_signature_fails():
    note = signed_checkpoint()
    body, line = note.split("\n\n")
    prefix, encoded = line.rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    for position in (4, 20, 67):  # R, inside, the last byte of S; the key ID (bytes 0-3) is left alone
        flipped = raw[:position] + bytes([raw[position] ^ 0x01]) + raw[position + 1 :]
        tampered = f"{body}\n\n{prefix} {base64.b64encode(flipped).decode()}\n"
        with pytest.raises(NoteError, match="bad signature"):
            open_note(tampered, LOG_NAME, LOG_PUBLIC)
    truncated = f"{body}\n\n{prefix} {base64.b64encode(raw[:-1]).decode()}\n"
    with pytest.raises(NoteError, match="bad signature"):
        open_note(truncated, LOG_NAME, LOG_PUBLIC)


def test_a_note_signed_by_another_key_or_name_fails():
    body = checkpoint_body(LOG_NAME, 42, ROOT)
    with pytest.raises(NoteError, match="no signature by key"):
        open_note(sign_note(body, LOG_NAME, OTHER_SEED), LOG_NAME, LOG_PUBLIC)
    with pytest.raises(NoteError, match="no signature by key"):
        open_note(sign_note(body, "passport.example/other", LOG_SEED), LOG_NAME, LOG_PUBLIC)
    # Another key's signature carried under our name and key ID is a bad signature, not an ignored one.
    ours, theirs = sign_note(body, LOG_NAME, LOG_SEED), sign_note(body, LOG_NAME, OTHER_SEED)
    our_raw = base64.b64decode(ours.rsplit(" ", 1)[1])
    their_raw = base64.b64decode(theirs.rsplit(" ", 1)[1])
    forged = ours.rsplit(" ", 1)[0] + " " + base64.b64encode(our_raw[:4] + their_raw[4:]).decode() + "\n"
    with pytest.raises(NoteError, match="bad signature"):
        open_note(forged, LOG_NAME, LOG_PUBLIC)


def test_a_bad_signature_by_our_key_rejects_the_note_even_beside_a_good_one():
    note = signed_checkpoint()
    good_line = note.split("\n\n")[1]
    prefix, encoded = good_line.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(encoded)
    bad_line = f"{prefix} {base64.b64encode(raw[:10] + bytes([raw[10] ^ 1]) + raw[11:]).decode()}\n"
    with pytest.raises(NoteError, match="bad signature"):
        open_note(note + bad_line, LOG_NAME, LOG_PUBLIC)


def test_cosignatures_by_other_keys_are_ignored():
    body = checkpoint_body(LOG_NAME, 42, ROOT)
    witnesses = "".join(
        sign_note(body, f"witness{i}.example", bytes([i]) * 32).removeprefix(body + "\n") for i in range(16)
    )
    note = sign_note(body, LOG_NAME, LOG_SEED) + witnesses
    assert open_note(note, LOG_NAME, LOG_PUBLIC) == body
    assert (
        open_note(
            note,
            "witness7.example",
            Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32).public_key().public_bytes_raw(),
        )
        == body
    )


@pytest.mark.parametrize(
    "line",
    [
        "-- passport.example/log AAAA\n",
        "— passport.example/log\n",
        "— passport.example/log \n",
        "— passport.example/log AAAA=\n",
        "— passport.example/log AAAAAA==\n",
        "— passport.example/log QUFBQUF=\n",
        "— passport.example/log QUFBQUFB\r\n",
        "— passport.example/log QUFBQUFB \n",
        "— a+b QUFBQUFB\n",
    ],
    ids=[
        "ascii-dashes",
        "no-signature",
        "empty-signature",
        "bad-padding",
        "short",
        "non-canonical",
        "carriage-return",
        "trailing-space",
        "plus-in-name",
    ],
)
def test_malformed_signature_lines_are_refused(line):
    with pytest.raises(NoteError, match="malformed"):
        open_note(checkpoint_body(LOG_NAME, 42, ROOT) + "\n" + line, LOG_NAME, LOG_PUBLIC)


# Strict parsing and building.


def body_with(size: str = "42", root: str | None = None, origin: str = LOG_NAME, tail: str = "") -> str:
    root = base64.b64encode(ROOT).decode() if root is None else root
    return f"{origin}\n{size}\n{root}\n{tail}"


def non_canonical(encoded: str) -> str:
    """The same bytes with non-zero padding bits in the last base64 character before '='."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = encoded.rstrip("=")
    changed = last[:-1] + alphabet[alphabet.index(last[-1]) | 1] + encoded[len(last) :]
    assert changed != encoded and base64.b64decode(changed) == base64.b64decode(encoded)
    return changed


@pytest.mark.parametrize(
    "body",
    [
        body_with(size="042"),
        body_with(size="+42"),
        body_with(size=" 42"),
        body_with(size="42 "),
        body_with(size="-1"),
        body_with(size="4_2"),
        body_with(size="\u0664\u0662"),  # Arabic-Indic digits: a decimal to Python's int(), not to the spec
        body_with(size=str(2**64)),
        body_with(size=""),
        body_with(origin=""),
        body_with(root=base64.b64encode(ROOT[:31]).decode()),
        body_with(root=base64.b64encode(ROOT + b"\x00").decode()),
        body_with(root=base64.b64encode(ROOT).decode().rstrip("=")),
        body_with(root=base64.urlsafe_b64encode(b"\xff" * 32).decode()),
        body_with(root=non_canonical(base64.b64encode(ROOT).decode())),
        body_with(tail="\n"),
        body_with(tail="ext\n\n"),
        body_with()[:-1],
        f"{LOG_NAME}\n42\n",
        body_with(origin=LOG_NAME + "\r"),
    ],
)
def test_parse_checkpoint_is_strict(body):
    with pytest.raises(NoteError, match="malformed checkpoint"):
        parse_checkpoint(body)


def test_parse_checkpoint_accepts_the_limits():
    assert parse_checkpoint(body_with(size="0")).size == 0
    assert parse_checkpoint(body_with(size=str(2**64 - 1))).size == 2**64 - 1
    assert parse_checkpoint(body_with(tail="one\ntwo\n")).extensions == ("one", "two")


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        (LOG_NAME, -1, ROOT, ()),
        (LOG_NAME, 2**64, ROOT, ()),
        (LOG_NAME, 1, ROOT[:31], ()),
        (LOG_NAME, 1, ROOT, ("",)),
        (LOG_NAME, 1, ROOT, ("a\nb",)),
    ],
)
def test_checkpoint_body_refuses_what_would_not_parse_back(origin, size, root, extensions):
    with pytest.raises(NoteError, match="malformed checkpoint"):
        checkpoint_body(origin, size, root, extensions)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0here", "line\nbreak"])
def test_key_names_must_be_non_empty_without_spaces_or_plus(name):
    with pytest.raises(NoteError, match="key name"):
        sign_note("text\n", name, LOG_SEED)
    with pytest.raises(NoteError, match="verifier key"):
        verifier_key(name, LOG_PUBLIC)


@pytest.mark.parametrize("text", ["no newline", "bell\x07\n", "\udcff\n"])
def test_sign_note_refuses_a_malformed_text(text):
    with pytest.raises(NoteError, match="malformed note"):
        sign_note(text, LOG_NAME, LOG_SEED)


def test_verifier_key_of_the_service_key():
    key = verifier_key(LOG_NAME, LOG_PUBLIC)
    name, key_id, encoded = key.split("+", 2)
    assert (name, bytes.fromhex(key_id)) == (LOG_NAME, note_key_id(LOG_NAME, LOG_PUBLIC))
    assert base64.b64decode(encoded) == b"\x01" + LOG_PUBLIC
    with pytest.raises(NoteError, match="31-byte public key"):
        verifier_key(LOG_NAME, LOG_PUBLIC[:31])
