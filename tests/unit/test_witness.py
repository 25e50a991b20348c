"""Witnesses: C2SP tlog-cosignature lines, tlog-witness submissions and the witness's decision.

Published vectors, typed here from their sources:
- C2SP tlog-cosignature.md (github.com/C2SP/C2SP, commit 01194db11950a0ae2b2b2401afa0a4063a822458): the example
  cosignature of witness.example.com/w1 and its signed message's ``time 1679315147`` (its key is not published, so
  only the layout is checked).
- C2SP tlog-witness.md (same repository, commit 055270b5928827a49ee84620903e141c2e97d79f): the example
  add-checkpoint request body.
- transparency-dev/formats note/note_cosigv1_test.go (commit 091ce41666c09683aa9350785e572be27f0c026d): the native
  cosignature/v1 verifier key of remora.n621.de, the Ed25519 key TEST, and a cosignature whose timestamp is
  1727964367 (TestCoSigV1NewVerifier, TestCoSigV1Timestamp).
- golang.org/x/mod sumdb/note/note_test.go: the PeterNeumann signer and verifier keys (as in test_checkpoint.py).

A cosignature made here is verified with PyNaCl (libsodium), not the ``cryptography`` code that made it, over a
message written out in the test from the spec's words.
"""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from app.domain import merkle
from app.domain.checkpoint import checkpoint_body, note_signatures, parse_checkpoint, sign_note, verifier_key
from app.domain.witness import (
    COSIGNATURE_V1,
    Refusal,
    Refused,
    Submission,
    Witnessed,
    WitnessError,
    WitnessStatus,
    cosign,
    cosignatures,
    cosigner_key,
    decide,
    parse_signer_key,
    parse_submission,
    parse_verifier_key,
    parse_witness_list,
    read_refusal,
    response_cosignatures,
    signed_checkpoint,
    signer_key_text,
    submission_body,
)

C2SP_COSIGNATURE = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
GO_COSIGNATURE = (
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
)
REMORA = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
GO_TEST_KEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
PETER_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
C2SP_REQUEST = (
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n"
)

SEED = bytes(range(32))
LOG_SEED = bytes(range(32, 64))
LOG_NAME = "passport.test/log"


def _public(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


WITNESS = cosigner_key("samr.example/witness", _public(SEED))


def _log_key():
    return parse_verifier_key(verifier_key(LOG_NAME, _public(LOG_SEED)))


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def _nodes(hashes: list[bytes]) -> dict:
    nodes: dict = {}
    for index, h in enumerate(hashes):
        for position, value in merkle.completed_nodes(index, h, nodes):
            nodes[position] = value
    return nodes


def _note(size: int, salt: bytes = b"", seed: bytes = LOG_SEED, name: str = LOG_NAME) -> tuple[str, str]:
    body = checkpoint_body(name, size, merkle.root_of(_leaves(size, salt)))
    return body, sign_note(body, name, seed)


# ------------------------------------------------------------------------------------------------------- keys


def test_published_verifier_keys_parse_and_their_key_ids_are_recomputed():
    remora = parse_verifier_key(REMORA)
    assert (remora.name, remora.kind, remora.key_id.hex()) == ("remora.n621.de", COSIGNATURE_V1, "da77ade7")
    assert remora.text == REMORA
    test = parse_verifier_key(GO_TEST_KEY)  # its base64 holds a "+": the name ends at the first one
    assert (test.name, test.kind, test.key_id.hex()) == ("TEST", b"\x01", "7997405c")
    peter = parse_verifier_key(PETER_VERIFIER_KEY)
    assert peter.text == PETER_VERIFIER_KEY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bananas.sigstore.dev+12344556", "malformed verifier key"),
        ("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!", "not base64"),
        ("rekor.sigstore.dev+12345678+AwEB", r"not an Ed25519 note \(0x01\) or cosignature/v1 \(0x04\) key"),
        ("remora.n621.de+00000000+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "is not that of its name and key"),
        ("remora.n621.de+DA77ADE7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "malformed verifier key"),
        ("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw", "not base64"),
        ("other.name+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "is not that of its name and key"),
        ("+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "malformed verifier key"),
    ],
)
def test_malformed_or_forged_verifier_keys_are_refused(text, message):
    with pytest.raises(WitnessError, match=message):
        parse_verifier_key(text)


def test_a_witness_key_must_be_of_the_kind_asked_for():
    with pytest.raises(WitnessError, match=r"want a cosignature/v1 \(0x04\) witness key"):
        parse_verifier_key(PETER_VERIFIER_KEY, COSIGNATURE_V1)
    with pytest.raises(WitnessError, match=r"want an Ed25519 note \(0x01\) log key"):
        parse_verifier_key(REMORA, b"\x01")


def test_the_signer_key_is_a_note_signer_key_and_cosigns_under_the_0x04_key_id():
    vkey, seed = parse_signer_key(PETER_SIGNER_KEY)  # golang.org/x/mod's own signer key reads as a witness key
    peter = parse_verifier_key(PETER_VERIFIER_KEY)
    assert vkey.public_key == peter.public_key and vkey.kind == COSIGNATURE_V1
    assert vkey.key_id != peter.key_id  # SHA-256(name || 0x0A || 0x04 || key)[:4], not the note key's
    assert signer_key_text("PeterNeumann", seed) == PETER_SIGNER_KEY
    assert parse_signer_key(signer_key_text("w.example/w1", SEED)) == (
        cosigner_key("w.example/w1", _public(SEED)),
        SEED,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "must start with PRIVATE\\+KEY\\+"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "is not that of its name"),
        ("PRIVATE+KEY+Peter+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", "is not that of its name"),
        ("PRIVATE+KEY+PeterNeumann+c74f20a3+BIEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", r"want an Ed25519 \(0x01\)"),
    ],
)
def test_bad_signer_keys_are_refused(text, message):
    with pytest.raises(WitnessError, match=message):
        parse_signer_key(text)


# ----------------------------------------------------------------------------------------------- cosignatures


def test_published_cosignatures_have_the_timestamped_layout():
    for encoded, timestamp in ((C2SP_COSIGNATURE, 1679315147), (GO_COSIGNATURE, 1727964367)):
        raw = base64.b64decode(encoded)
        assert len(raw) == 4 + 8 + 64
        assert int.from_bytes(raw[4:12], "big") == timestamp


def test_a_cosignature_verifies_independently_over_the_message_the_spec_spells_out():
    body, _ = _note(5)
    line = cosign(body, WITNESS.name, SEED, 1679315147)
    prefix = f"— {WITNESS.name} "
    assert line.startswith(prefix) and line.endswith("\n")
    raw = base64.b64decode(line[len(prefix) : -1], validate=True)
    assert raw[:4] == hashlib.sha256(WITNESS.name.encode() + b"\n\x04" + _public(SEED)).digest()[:4]
    assert raw[4:12] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + body.encode()
    nacl.signing.VerifyKey(_public(SEED)).verify(message, raw[12:])  # libsodium, not the code under test


def test_cosignatures_are_found_among_a_note_s_lines_and_checked():
    body, note = _note(5)
    other_seed = bytes(range(64, 96))
    other = cosigner_key("mss.example/witness", _public(other_seed))
    cosigned = note + cosign(body, WITNESS.name, SEED, 100) + cosign(body, other.name, other_seed, 200)
    found = cosignatures(body, note_signatures(cosigned)[1], [WITNESS, other])
    assert {(c.witness.name, c.timestamp) for c in found} == {(WITNESS.name, 100), (other.name, 200)}
    assert cosignatures(body, note_signatures(cosigned)[1], [WITNESS]) == [found[0]]  # others' lines ignored
    assert cosignatures(body, note_signatures(note)[1], [WITNESS]) == []
    with pytest.raises(WitnessError, match="bad cosignature"):  # the same line on another checkpoint
        other_body, _ = _note(6)
        cosignatures(other_body, note_signatures(cosigned)[1], [WITNESS])


def test_a_cosignature_by_a_known_key_that_is_truncated_or_has_a_huge_time_is_refused():
    body, _ = _note(3)
    raw = base64.b64decode(cosign(body, WITNESS.name, SEED, 7).split(" ")[-1])
    for bad, message in (
        (raw[:-1], "is 75 bytes, want 76"),
        (raw[:4] + (2**63).to_bytes(8, "big") + raw[12:], "above 2\\*\\*63 - 1"),
        (raw[:4] + (8).to_bytes(8, "big") + raw[12:], "bad cosignature"),
    ):
        with pytest.raises(WitnessError, match=message):
            cosignatures(body, [(WITNESS.name, bad)], [WITNESS])
    with pytest.raises(WitnessError, match="timestamp"):
        cosign(body, WITNESS.name, SEED, 2**63)


def test_a_response_must_hold_a_valid_cosignature_by_the_witness():
    body, _ = _note(4)
    line = cosign(body, WITNESS.name, SEED, 9)
    assert [c.line for c in response_cosignatures(body, line, WITNESS)] == [line]
    for response, message in (
        ("", "not signature lines"),
        ("hello\n", "not signature lines"),
        (cosign(body, "someone.else", SEED, 9), "holds no cosignature"),
        (cosign(_note(5)[0], WITNESS.name, SEED, 9), "bad cosignature"),
    ):
        with pytest.raises(WitnessError, match=message):
            response_cosignatures(body, response, WITNESS)


# ------------------------------------------------------------------------------------------------ submissions


def test_the_spec_s_example_request_parses():
    submission = parse_submission(C2SP_REQUEST.encode())
    assert submission.old_size == 20852014
    assert [base64.b64encode(p).decode() for p in submission.proof] == C2SP_REQUEST.split("\n")[1:5]
    assert submission.note == C2SP_REQUEST[C2SP_REQUEST.index("example.com") :]
    assert submission_body(submission.old_size, submission.proof, submission.note) == C2SP_REQUEST.encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"old 5\nnote\n", "no empty line"),
        (b"old 05\n\nx\n", "'old <size>'"),
        (b"old -1\n\nx\n", "'old <size>'"),
        (b"old  5\n\nx\n", "'old <size>'"),
        (b"new 5\n\nx\n", "'old <size>'"),
        (b"old 18446744073709551616\n\nx\n", "'old <size>'"),
        (b"old 5\nAAAA\n\nx\n", "is 3 bytes, want 32"),
        (b"old 5\n" + b"A" * 43 + b"=\r\n\nx\n", "not base64"),
        (b"old 5\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\nx\n", "64 consistency proof lines, at most 63"),
        (b"old 5\n\n\xff\n", "not UTF-8"),
    ],
)
def test_malformed_submissions_are_refused(body, message):
    with pytest.raises(Refused, match=message) as refused:
        parse_submission(body)
    assert refused.value.refusal == Refusal.MALFORMED


def test_the_checkpoint_must_be_signed_by_a_key_trusted_for_its_origin():
    log_key = _log_key()
    _, note = _note(3)
    keys = {LOG_NAME: [log_key]}
    assert signed_checkpoint(note, keys)[1].size == 3
    rotated = parse_verifier_key(verifier_key(LOG_NAME, _public(SEED)))
    assert signed_checkpoint(note, {LOG_NAME: [rotated, log_key]})[1].size == 3  # any trusted key will do
    forged = sign_note(_note(3)[0], LOG_NAME, SEED)
    cases = [
        (note, {}, Refusal.UNKNOWN_LOG),
        (_note(3, name="other.example/log")[1], keys, Refusal.UNKNOWN_LOG),
        (forged, keys, Refusal.BAD_SIGNATURE),  # signed by a key of the same name that is not trusted
        (note.replace("\n\n", "\nextra\n\n", 1), keys, Refusal.BAD_SIGNATURE),  # body changed after signing
        ("not a note\n", keys, Refusal.MALFORMED),
        (note.replace(LOG_NAME + "\n", "", 1), keys, Refusal.MALFORMED),
    ]
    for text, trusted, refusal in cases:
        with pytest.raises(Refused) as refused:
            signed_checkpoint(text, trusted)
        assert refused.value.refusal == refusal, text


# ------------------------------------------------------------------------------------------------- decisions


def _checkpoint(size: int, salt: bytes = b""):
    return parse_checkpoint(_note(size, salt)[0])


def _refusal(submission, checkpoint, latest) -> Refused:
    with pytest.raises(Refused) as refused:
        decide(submission, checkpoint, latest)
    return refused.value


def test_a_first_checkpoint_is_cosigned_from_old_size_zero_with_no_proof():
    assert decide(Submission(0, (), ""), _checkpoint(5), None) == Witnessed(5, merkle.root_of(_leaves(5)))
    refused = _refusal(Submission(0, (bytes(32),), ""), _checkpoint(5), None)
    assert refused.refusal == Refusal.BAD_PROOF


def test_growth_is_cosigned_only_with_a_consistency_proof_from_the_cosigned_size():
    hashes = _leaves(11)
    held = Witnessed(6, merkle.root_of(hashes[:6]))
    proof = tuple(merkle.consistency_proof(6, 11, _nodes(hashes)))
    assert decide(Submission(6, proof, ""), _checkpoint(11), held) == Witnessed(11, merkle.root_of(hashes))
    bad = (proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:])
    assert _refusal(Submission(6, bad, ""), _checkpoint(11), held).refusal == Refusal.BAD_PROOF
    assert _refusal(Submission(6, proof[:-1], ""), _checkpoint(11), held).refusal == Refusal.BAD_PROOF


def test_a_fork_is_refused():
    hashes = _leaves(11)
    forked = Witnessed(6, merkle.root_of(_leaves(6, b"fork")))  # the witness was shown another history first
    proof = tuple(merkle.consistency_proof(6, 11, _nodes(hashes)))
    refused = _refusal(Submission(6, proof, ""), _checkpoint(11), forked)
    assert refused.refusal == Refusal.BAD_PROOF and "does not verify" in str(refused)
    same_size = _refusal(Submission(6, (), ""), _checkpoint(6), forked)
    assert (same_size.refusal, same_size.latest) == (Refusal.ROOT_MISMATCH, 6)


def test_the_old_size_must_be_the_latest_cosigned_and_not_above_the_checkpoint():
    held = Witnessed(6, merkle.root_of(_leaves(6)))
    stale = _refusal(Submission(0, (), ""), _checkpoint(11), held)
    assert (stale.refusal, stale.latest) == (Refusal.STALE_OLD_SIZE, 6)
    ahead = _refusal(Submission(3, (), ""), _checkpoint(11), held)
    assert (ahead.refusal, ahead.latest) == (Refusal.STALE_OLD_SIZE, 6)
    never = _refusal(Submission(4, (), ""), _checkpoint(11), None)
    assert (never.refusal, never.latest) == (Refusal.STALE_OLD_SIZE, 0)
    assert _refusal(Submission(12, (), ""), _checkpoint(11), held).refusal == Refusal.OLD_SIZE_TOO_LARGE
    rolled_back = _refusal(Submission(6, (), ""), _checkpoint(4), held)  # a smaller tree after a larger one
    assert rolled_back.refusal == Refusal.OLD_SIZE_TOO_LARGE


def test_the_same_checkpoint_again_is_cosigned_again():
    held = Witnessed(6, merkle.root_of(_leaves(6)))
    assert decide(Submission(6, (), ""), _checkpoint(6), held) == held
    assert _refusal(Submission(6, (bytes(32),), ""), _checkpoint(6), held).refusal == Refusal.BAD_PROOF


# ------------------------------------------------------------------------------------- the log's side of it


def test_the_witness_list_reads_url_and_key_pairs():
    other = cosigner_key("mss.example/witness", _public(bytes(range(64, 96))))
    text = f" http://127.0.0.1:9001/ {WITNESS.text} ;; https://w.example/sub {other.text};"
    assert [(w.url, w.key) for w in parse_witness_list(text)] == [
        ("http://127.0.0.1:9001", WITNESS),
        ("https://w.example/sub", other),
    ]
    assert parse_witness_list("") == []
    for bad, message in (
        (f"ftp://x {WITNESS.text}", "http:// or https://"),
        (WITNESS.text, "want 'URL VERIFIERKEY'"),
        (f"http://a {PETER_VERIFIER_KEY}", "witness key"),
        (f"http://a {WITNESS.text}; http://b {WITNESS.text}", "given twice"),
        (f"http://a {WITNESS.text} extra", "want 'URL VERIFIERKEY'"),
    ):
        with pytest.raises(WitnessError, match=message):
            parse_witness_list(bad)


def test_a_witness_s_refusals_read_as_the_spec_means_them():
    size_type = "text/x.tlog.size"
    retry = read_refusal(409, size_type, b"6\n", 0, 11)
    assert (retry.status, retry.retry_from) == (WitnessStatus.PENDING, 6)
    fork = read_refusal(409, size_type, b"6\n", 6, 11)
    assert fork.status == WitnessStatus.REFUSED and "fork" in fork.reason and fork.retry_from is None
    ahead = read_refusal(409, size_type, b"20\n", 6, 11)
    assert ahead.status == WitnessStatus.REFUSED and "above this log's 11" in ahead.reason
    assert read_refusal(409, "text/plain", b"6\n", 0, 11).status == WitnessStatus.REFUSED
    assert read_refusal(409, size_type, b"06\n", 0, 11).status == WitnessStatus.REFUSED
    assert "fork" in read_refusal(422, "text/plain", b"no", 6, 11).reason
    assert read_refusal(403, "text/plain", b"", 0, 11).status == WitnessStatus.REFUSED
    assert read_refusal(404, "text/plain", b"", 0, 11).status == WitnessStatus.REFUSED
    assert read_refusal(503, "text/plain", b"busy", 0, 11).status == WitnessStatus.UNREACHABLE
    assert read_refusal(500, "text/plain", b"", 0, 11).status == WitnessStatus.UNREACHABLE


@given(st.integers(1, 70), st.integers(0, 70), st.data())
def test_any_growth_is_cosigned_and_any_rewritten_leaf_is_refused(first, extra, data):
    second = first + extra
    hashes = _leaves(second)
    held = Witnessed(first, merkle.root_of(hashes[:first]))
    proof = tuple(merkle.consistency_proof(first, second, _nodes(hashes))) if extra else ()
    checkpoint = parse_checkpoint(checkpoint_body(LOG_NAME, second, merkle.root_of(hashes)))
    assert decide(Submission(first, proof, ""), checkpoint, held) == Witnessed(second, merkle.root_of(hashes))
    # The witness cosigned a history in which one leaf below ``first`` was different: the log's tree forks from it.
    changed = data.draw(st.integers(0, first - 1))
    forked = [*hashes[:changed], merkle.leaf_hash(b"other"), *hashes[changed + 1 : first]]
    refused = _refusal(Submission(first, proof, ""), checkpoint, Witnessed(first, merkle.root_of(forked)))
    assert refused.refusal == (Refusal.ROOT_MISMATCH if extra == 0 else Refusal.BAD_PROOF)
