"""Witnesses, exactly: the texts, codes and boundaries of app/domain/witness.py that mutation testing (issue 21)
showed test_witness.py left unpinned.

Formats from C2SP tlog-cosignature (timestamps are u64 POSIX seconds below 2**63, so 0 and 2**63 - 1 are valid)
and C2SP tlog-witness (``old <size>`` with a size up to 2**64 - 1, then at most 63 base64 proof lines).
Refusal texts are asserted whole: the log shows them to operators and the witness app returns them as bodies.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.domain import merkle
from app.domain.checkpoint import (
    ED25519,
    MAX_TREE_SIZE,
    NoteError,
    checkpoint_body,
    note_signatures,
    parse_checkpoint,
    sign_note,
    verifier_key,
    verify_note_signature,
)
from app.domain.witness import (
    COSIGNATURE_V1,
    MAX_PROOF_LINES,
    MAX_TIMESTAMP,
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
    key_id,
    parse_signer_key,
    parse_submission,
    parse_verifier_key,
    parse_witness_list,
    read_refusal,
    signed_checkpoint,
)

SEED = bytes(range(32))
LOG_SEED = bytes(range(32, 64))
LOG_NAME = "passport.test/log"
HASH = base64.b64encode(bytes(32))


def _public(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def _body(size: int) -> str:
    return checkpoint_body(LOG_NAME, size, merkle.root_of([merkle.leaf_hash(bytes([i])) for i in range(size)]))


def _note(size: int) -> str:
    return sign_note(_body(size), LOG_NAME, LOG_SEED)


def _log_keys():
    return {LOG_NAME: [parse_verifier_key(verifier_key(LOG_NAME, _public(LOG_SEED)))]}


def _vkey_text(name: str, kind: bytes, key: bytes) -> str:
    """A vkey with a correct key ID over whatever ``kind || key`` is given."""
    material = kind + key
    return f"{name}+{key_id(name, material[:1], material[1:]).hex()}+{base64.b64encode(material).decode()}"


def _refused(call, *args) -> Refused:
    with pytest.raises(Refused) as refused:
        call(*args)
    return refused.value


# ------------------------------------------------------------------------------------------------------------ keys


@pytest.mark.parametrize("name", ["a+b", "a b", "a\tb", "a\x01b", "a\x1fb", ""])
def test_a_cosigner_name_with_a_plus_a_space_or_a_control_character_is_refused(name):
    with pytest.raises(WitnessError) as error:
        cosigner_key(name, _public(SEED))
    assert str(error.value) == f"invalid cosigner key: name {name!r}, 32-byte public key"


def test_a_cosigner_public_key_must_be_32_bytes_even_under_a_valid_name():
    for size in (31, 33):
        with pytest.raises(WitnessError) as error:
            cosigner_key("w.example/ok", bytes(size))
        assert str(error.value) == f"invalid cosigner key: name 'w.example/ok', {size}-byte public key"
    assert cosigner_key("w.example/ok", bytes(32)).public_key == bytes(32)


def test_verifier_key_material_that_is_not_base64_or_not_canonical_is_named():
    with pytest.raises(WitnessError) as error:
        parse_verifier_key("w.example+01234567+!!!!")
    assert str(error.value) == "malformed verifier key: not base64"
    # "AAB=" decodes (to 2 bytes) but sets a bit an encoder leaves zero: canonical is checked before the length.
    assert base64.b64encode(base64.b64decode("AAB=")) == b"AAA="
    with pytest.raises(WitnessError) as error:
        parse_verifier_key("w.example+01234567+AAB=")
    assert str(error.value) == "malformed verifier key: not canonical base64"


def test_key_material_must_be_both_33_bytes_and_of_type_0x01_or_0x04():
    for kind, key in ((b"\x02", bytes(32)), (ED25519, bytes(31)), (COSIGNATURE_V1, bytes(33))):
        with pytest.raises(WitnessError) as error:
            parse_verifier_key(_vkey_text("w.example", kind, key))
        assert str(error.value) == ("verifier key w.example: not an Ed25519 note (0x01) or cosignature/v1 (0x04) key")


def test_a_malformed_signer_key_is_named_a_signer_key():
    for text, message in (
        ("PRIVATE+KEY+bad", "malformed signer key: want <name>+<8 hex digits>+<base64 key>"),
        ("PRIVATE+KEY+w+01234567+!!!!", "malformed signer key: not base64"),
        (
            "PRIVATE+KEY+" + _vkey_text("w", b"\x02", bytes(32)),
            "signer key w: not an Ed25519 note (0x01) or cosignature/v1 (0x04) key",
        ),
    ):
        with pytest.raises(WitnessError) as error:
            parse_signer_key(text)
        assert str(error.value) == message


# ---------------------------------------------------------------------------------------------------- cosignatures


@pytest.mark.parametrize("timestamp", [0, 1, MAX_TIMESTAMP])
def test_the_timestamp_bounds_of_tlog_cosignature_are_both_accepted_and_read_back(timestamp):
    witness = cosigner_key("w.example/w", _public(SEED))
    line = cosign(_body(3), "w.example/w", SEED, timestamp)
    raw = base64.b64decode(line.split(" ")[-1])
    assert raw[4:12] == timestamp.to_bytes(8, "big")
    _, signatures = note_signatures(_body(3) + "\n" + line)
    [found] = cosignatures(_body(3), signatures, [witness])
    assert (found.timestamp, found.line) == (timestamp, line)


@pytest.mark.parametrize("timestamp", [-1, MAX_TIMESTAMP + 1])
def test_a_timestamp_outside_them_is_refused(timestamp):
    with pytest.raises(WitnessError) as error:
        cosign(_body(3), "w.example/w", SEED, timestamp)
    assert str(error.value) == f"timestamp {timestamp} is not between 0 and 2**63 - 1"


# ------------------------------------------------------------------------------------------------------ submissions


def test_a_body_that_is_not_utf8_is_refused_in_those_words():
    refused = _refused(parse_submission, b"old 5\n\n\xff\n")
    assert (refused.refusal, str(refused)) == (Refusal.MALFORMED, "the body is not UTF-8")


def test_a_body_without_the_empty_line_is_refused_in_those_words():
    refused = _refused(parse_submission, b"old 5\nnote\n")
    assert str(refused) == "no empty line between the old size and proof lines and the checkpoint"


def test_the_old_size_may_be_the_largest_tree_size_and_no_larger():
    assert parse_submission(f"old {MAX_TREE_SIZE}\n\nx\n".encode()).old_size == MAX_TREE_SIZE
    refused = _refused(parse_submission, f"old {MAX_TREE_SIZE + 1}\n\nx\n".encode())
    assert str(refused) == f"the first line must be 'old <size>' in decimal, got 'old {MAX_TREE_SIZE + 1}'"


@pytest.mark.parametrize("count", [MAX_PROOF_LINES - 1, MAX_PROOF_LINES])
def test_up_to_63_proof_lines_are_read(count):
    submission = parse_submission(b"old 5\n" + (HASH + b"\n") * count + b"\nx\n")
    assert submission.proof == (bytes(32),) * count and submission.note == "x\n"


def test_a_bad_proof_line_is_named_by_its_number_from_one():
    bad = HASH[:-2] + b"B="  # 32 bytes, but a bit an encoder leaves zero is set: not canonical
    assert base64.b64decode(bad) == bytes(32) and base64.b64encode(bytes(32)) != bad
    for lines, message in (
        ([bad], "malformed consistency proof line 1: not canonical base64"),
        ([HASH, bad], "malformed consistency proof line 2: not canonical base64"),
        ([b"!!!!"], "malformed consistency proof line 1: not base64"),
        ([b"AAAA"], "consistency proof line 1 is 3 bytes, want 32"),
        ([HASH, HASH, b"AAAA"], "consistency proof line 3 is 3 bytes, want 32"),
    ):
        refused = _refused(parse_submission, b"old 5\n" + b"".join(line + b"\n" for line in lines) + b"\nx\n")
        assert (refused.refusal, str(refused)) == (Refusal.MALFORMED, message)


# ------------------------------------------------------------------------------------------------------ checkpoints


def test_a_malformed_note_is_refused_with_the_note_reader_s_words():
    for text in ("not a note\n", _note(3).replace(LOG_NAME + "\n", "", 1)):
        with pytest.raises(NoteError) as expected:
            parse_checkpoint(note_signatures(text)[0])
        refused = _refused(signed_checkpoint, text, _log_keys())
        assert (refused.refusal, str(refused)) == (Refusal.MALFORMED, str(expected.value))
        assert str(refused) and str(refused) != "None"


def test_an_unknown_origin_and_an_untrusted_signature_are_refused_in_those_words():
    refused = _refused(signed_checkpoint, _note(3), {})
    assert (refused.refusal, str(refused)) == (Refusal.UNKNOWN_LOG, f"no log with origin {LOG_NAME!r} is known here")
    forged = sign_note(_body(3), LOG_NAME, SEED)
    refused = _refused(signed_checkpoint, forged, _log_keys())
    assert (refused.refusal, str(refused)) == (
        Refusal.BAD_SIGNATURE,
        f"no signature by a key trusted for {LOG_NAME!r}",
    )


def test_a_bad_signature_under_a_trusted_key_is_refused_with_the_verifier_s_words():
    changed = _note(3).replace("\n\n", "\nextra\n\n", 1)
    body, signatures = note_signatures(changed)
    with pytest.raises(NoteError) as expected:
        verify_note_signature(body, signatures, LOG_NAME, _public(LOG_SEED))
    assert str(expected.value).startswith(f"bad signature by key {LOG_NAME}+")
    refused = _refused(signed_checkpoint, changed, _log_keys())
    assert (refused.refusal, str(refused)) == (Refusal.BAD_SIGNATURE, str(expected.value))


# ------------------------------------------------------------------------------------------------------- decisions


def _checkpoint(size: int):
    return parse_checkpoint(_body(size))


def test_an_empty_first_checkpoint_is_cosigned_against_the_empty_root():
    assert _checkpoint(0).root == merkle.EMPTY_ROOT
    assert decide(Submission(0, (), ""), _checkpoint(0), None) == Witnessed(0, merkle.EMPTY_ROOT)


def test_each_decision_refusal_says_why():
    held = Witnessed(6, _checkpoint(6).root)
    cases = [
        (Submission(12, (), ""), _checkpoint(11), held, "old size 12 is above the checkpoint's size 11"),
        (Submission(3, (), ""), _checkpoint(11), held, "old size 3 is not the latest cosigned size 6"),
        (
            Submission(6, (), ""),
            _checkpoint(6),
            Witnessed(6, bytes(32)),
            "a checkpoint of size 6 with another root was cosigned here",
        ),
        (
            Submission(6, (bytes(32),), ""),
            _checkpoint(6),
            held,
            "old size and size are both 6: the proof must be empty",
        ),
        (Submission(0, (bytes(32),), ""), _checkpoint(5), None, "old size 0: the proof must be empty"),
    ]
    for submission, checkpoint, latest, message in cases:
        assert str(_refused(decide, submission, checkpoint, latest)) == message


# ------------------------------------------------------------------------------------- the log's side of it


def test_only_trailing_slashes_are_taken_off_a_witness_url():
    witness = cosigner_key("w.example/w", _public(SEED))
    [endpoint] = parse_witness_list(f"https://w.example/WX/ {witness.text}")
    assert endpoint.url == "https://w.example/WX"


def test_a_409_size_is_read_with_content_type_parameters_and_an_invalid_utf8_body_still_reads():
    retry = read_refusal(409, "text/x.tlog.size; charset=utf-8", b"6\n", 0, 11)
    assert retry == read_refusal(409, "text/x.tlog.size;charset=utf-8", b"6\n", 0, 11)
    assert retry == read_refusal(409, "text/x.tlog.size", b"6\n", 0, 11)
    assert (retry.status, retry.reason, retry.retry_from) == (WitnessStatus.PENDING, "it has cosigned size 6, not 0", 6)
    garbled = read_refusal(409, "text/x.tlog.size", b"\xff6", 0, 11)
    assert (garbled.status, garbled.reason) == (WitnessStatus.REFUSED, "409 without a tree size: '\ufffd6'")


def test_a_witness_that_cosigned_exactly_this_size_is_retried_from_it():
    answer = read_refusal(409, "text/x.tlog.size", b"11\n", 6, 11)
    assert (answer.status, answer.retry_from) == (WitnessStatus.PENDING, 11)
    assert answer.reason == "it has cosigned size 11, not 6"
    above = read_refusal(409, "text/x.tlog.size", b"12\n", 6, 11)
    assert above == read_refusal(409, "text/x.tlog.size", b"12", 6, 11)
    assert above.reason == "it has cosigned size 12, above this log's 11: it was shown another history of the log"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (403, "no signature by a log key it trusts: it does not trust this log's key"),
        (404, "it does not know this log's origin"),
        (400, "it calls the request malformed"),
        (413, "it calls the request too large"),
        (
            422,
            "it rejects the consistency proof from size 6 to 11: it holds another tree of size 6 (a fork of the log)",
        ),
    ],
)
def test_each_refusal_status_reads_in_its_words(code, reason):
    answer = read_refusal(code, "text/plain", b" why \n", 6, 11)
    assert answer == read_refusal(code, "text/plain", b"why", 6, 11)
    assert (answer.status, answer.reason, answer.retry_from) == (WitnessStatus.REFUSED, f"{code}: {reason} (why)", None)


@pytest.mark.parametrize("code", [401, 414, 429, 500, 503])
def test_other_statuses_are_unreachable_and_quote_at_most_300_characters(code):
    answer = read_refusal(code, "text/plain", b"x" * 299 + b"yz", 6, 11)
    assert (answer.status, answer.reason) == (WitnessStatus.UNREACHABLE, f"answered {code}: " + "x" * 299 + "y")
    assert read_refusal(code, "text/plain", b"\xff", 6, 11).reason == f"answered {code}: \ufffd"
