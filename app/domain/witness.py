"""Witnesses of the log: C2SP tlog-witness submissions and tlog-cosignature (cosignature/v1, Ed25519) lines.

Cosignature (https://c2sp.org/tlog-cosignature): a signed-note signature line ``— <name> base64(key ID ||
timestamp || signature)`` where the key ID is SHA-256(name || 0x0A || 0x04 || public key)[:4], the timestamp a
big-endian u64 of POSIX seconds (below 2**63), and the Ed25519 signature covers
``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole checkpoint body. A witness's verifier key is a
signed-note vkey with signature type 0x04: ``<name>+<hex key ID>+base64(0x04 || public key)``; the log's is the
same with type 0x01 (app/domain/checkpoint.py).

Submission (https://c2sp.org/tlog-witness, add-checkpoint): ``old <size>``, up to 63 base64 consistency proof
lines, an empty line, then the signed checkpoint; every line ends in a newline. ``decide`` is the witness's rule
given the latest checkpoint it cosigned for the origin: the old size must be that size (409 Conflict with it
otherwise), the proof must be an RFC 6962 §2.1.2 consistency proof from it (422 otherwise), and at equal sizes the
roots must be equal (409). Which HTTP status each refusal answers is the witness app's table
(app/api/witness_app.py); the kinds are here.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.domain import merkle
from app.domain.checkpoint import (
    ED25519,
    MAX_TREE_SIZE,
    SIGNATURE_PREFIX,
    Checkpoint,
    NoteError,
    note_signatures,
    parse_checkpoint,
    verify_note_signature,
)

COSIGNATURE_V1 = b"\x04"
MAX_PROOF_LINES = 63
MAX_TIMESTAMP = 2**63 - 1
COSIGNATURE_SIZE = 4 + 8 + 64
SIGNER_PREFIX = "PRIVATE+KEY+"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID = re.compile(r"[0-9a-f]{8}")


class WitnessError(ValueError):
    """A verifier key, signer key or cosignature that is malformed or does not verify."""


class Refusal(StrEnum):
    """Why a witness does not cosign a submission (tlog-witness names the status of each)."""

    MALFORMED = "malformed"  # 400
    OLD_SIZE_TOO_LARGE = "old_size_too_large"  # 400
    UNKNOWN_LOG = "unknown_log"  # 404
    BAD_SIGNATURE = "bad_signature"  # 403
    STALE_OLD_SIZE = "stale_old_size"  # 409, the latest cosigned size as text/x.tlog.size
    ROOT_MISMATCH = "root_mismatch"  # 409: same size, another root (a fork)
    BAD_PROOF = "bad_proof"  # 422


class Refused(Exception):
    """A submission the witness will not cosign; ``latest`` is the size it last cosigned for the origin."""

    def __init__(self, refusal: Refusal, message: str, latest: int | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.latest = latest


# ------------------------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True, slots=True)
class VerifierKey:
    name: str
    key_id: bytes
    kind: bytes  # 0x01: a note signer (the log), 0x04: a cosigner (a witness)
    public_key: bytes

    @property
    def text(self) -> str:
        encoded = base64.b64encode(self.kind + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(char.isspace() or char < " " for char in name)


def key_id(name: str, kind: bytes, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || signature type || public key)[:4] (signed-note key ID, tlog-cosignature)."""
    return hashlib.sha256(name.encode() + b"\n" + kind + public_key).digest()[:4]


def cosigner_key(name: str, public_key: bytes) -> VerifierKey:
    if not _valid_name(name) or len(public_key) != 32:
        raise WitnessError(f"invalid cosigner key: name {name!r}, {len(public_key)}-byte public key")
    return VerifierKey(name, key_id(name, COSIGNATURE_V1, public_key), COSIGNATURE_V1, public_key)


def _canonical_b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise WitnessError(f"malformed {what}: not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise WitnessError(f"malformed {what}: not canonical base64")
    return raw


def _split_key(text: str, what: str) -> tuple[str, str, bytes]:
    """(name, hex key ID, decoded key material) of ``<name>+<hex key ID>+base64(type || key)``."""
    parts = text.strip().split("+", 2)  # a name holds no "+"; base64 may
    if len(parts) != 3 or not _valid_name(parts[0]) or not _KEY_ID.fullmatch(parts[1]):
        raise WitnessError(f"malformed {what}: want <name>+<8 hex digits>+<base64 key>")
    name, hex_id, encoded = parts
    raw = _canonical_b64(encoded, what)
    if len(raw) != 33 or raw[:1] not in (ED25519, COSIGNATURE_V1):
        raise WitnessError(f"{what} {name}: not an Ed25519 note (0x01) or cosignature/v1 (0x04) key")
    return name, hex_id, raw


def parse_verifier_key(text: str, kind: bytes | None = None) -> VerifierKey:
    """A vkey ``<name>+<hex key ID>+base64(type || key)`` of type 0x01 or 0x04 (or only ``kind``), its key ID
    checked against the name and key."""
    name, hex_id, raw = _split_key(text, "verifier key")
    if kind is not None and raw[:1] != kind:
        want = "a cosignature/v1 (0x04) witness key" if kind == COSIGNATURE_V1 else "an Ed25519 note (0x01) log key"
        raise WitnessError(f"verifier key {name}: want {want}")
    computed = key_id(name, raw[:1], raw[1:])
    if computed.hex() != hex_id:
        raise WitnessError(f"verifier key {name}: key ID {hex_id} is not that of its name and key ({computed.hex()})")
    return VerifierKey(name, computed, raw[:1], raw[1:])


def signer_key_text(name: str, seed: bytes) -> str:
    """A witness's private key file line: a signed-note Ed25519 signer key, ``PRIVATE+KEY+<name>+<hex key ID>+
    base64(0x01 || seed)``, as golang.org/x/mod/sumdb/note's GenerateKey writes it (transparency-dev's witnesses
    read theirs the same way). Its cosignatures carry the key ID of type 0x04, not this one."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    cosigner_key(name, public)  # the name is checked
    note_id = key_id(name, ED25519, public)
    return f"{SIGNER_PREFIX}{name}+{note_id.hex()}+{base64.b64encode(ED25519 + seed).decode('ascii')}"


def parse_signer_key(text: str) -> tuple[VerifierKey, bytes]:
    """(cosigner verifier key, Ed25519 seed) of a witness's private key line."""
    if not text.startswith(SIGNER_PREFIX):
        raise WitnessError(f"not a signer key: it must start with {SIGNER_PREFIX}")
    name, hex_id, raw = _split_key(text.removeprefix(SIGNER_PREFIX), "signer key")
    if raw[:1] != ED25519:
        raise WitnessError(f"signer key {name}: want an Ed25519 (0x01) signer key")
    seed = raw[1:]
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    if key_id(name, ED25519, public).hex() != hex_id:
        raise WitnessError(f"signer key {name}: key ID {hex_id} is not that of its name and key")
    return cosigner_key(name, public), seed


# ---------------------------------------------------------------------------------------------------- cosignatures


def cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def cosign(body: str, name: str, seed: bytes, timestamp: int) -> str:
    """The cosignature/v1 line (newline included) of checkpoint ``body`` by the witness key, at ``timestamp``."""
    parse_checkpoint(body)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise WitnessError(f"timestamp {timestamp} is not between 0 and 2**63 - 1")
    key = Ed25519PrivateKey.from_private_bytes(seed)
    vkey = cosigner_key(name, key.public_key().public_bytes_raw())
    signature = key.sign(cosigned_message(body, timestamp))
    encoded = base64.b64encode(vkey.key_id + timestamp.to_bytes(8, "big") + signature).decode("ascii")
    return f"{SIGNATURE_PREFIX}{name} {encoded}\n"


@dataclass(frozen=True, slots=True)
class Cosignature:
    witness: VerifierKey
    timestamp: int
    line: str


def cosignatures(
    body: str, signatures: Iterable[tuple[str, bytes]], witnesses: Iterable[VerifierKey]
) -> list[Cosignature]:
    """The cosignatures of ``body`` by the given witness keys among a note's signature lines; lines of other keys
    are ignored; WitnessError for a line under a given key that is malformed or does not verify."""
    by_id = {(w.name, w.key_id): w for w in witnesses if w.kind == COSIGNATURE_V1}
    found: dict[VerifierKey, Cosignature] = {}
    for name, raw in signatures:
        witness = by_id.get((name, raw[:4]))
        if witness is None:
            continue
        if len(raw) != COSIGNATURE_SIZE:
            raise WitnessError(f"cosignature by {witness.text} is {len(raw)} bytes, want {COSIGNATURE_SIZE}")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp > MAX_TIMESTAMP:
            raise WitnessError(f"cosignature by {witness.text}: timestamp {timestamp} is above 2**63 - 1")
        try:
            Ed25519PublicKey.from_public_bytes(witness.public_key).verify(raw[12:], cosigned_message(body, timestamp))
        except InvalidSignature:
            raise WitnessError(f"bad cosignature by {witness.text}") from None
        line = f"{SIGNATURE_PREFIX}{name} {base64.b64encode(raw).decode('ascii')}\n"
        found[witness] = Cosignature(witness, timestamp, line)
    return list(found.values())


def response_cosignatures(body: str, response: str, witness: VerifierKey) -> list[Cosignature]:
    """The cosignatures by ``witness`` in an add-checkpoint 200 response (signature lines only) on ``body``;
    WitnessError if it holds none, or a malformed or bad one."""
    try:
        _, signatures = note_signatures(body + "\n" + response)
    except NoteError as error:
        raise WitnessError(f"the witness's response is not signature lines: {error}") from None
    found = cosignatures(body, signatures, [witness])
    if not found:
        raise WitnessError(f"the witness's response holds no cosignature by {witness.text}")
    return found


# ------------------------------------------------------------------------------------------------------ submissions


@dataclass(frozen=True, slots=True)
class Submission:
    old_size: int
    proof: tuple[bytes, ...]
    note: str


def submission_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    lines = [f"old {old_size}", *(base64.b64encode(p).decode("ascii") for p in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode()


def parse_submission(body: bytes) -> Submission:
    """Read an add-checkpoint request body strictly; Refused(MALFORMED) says what is wrong."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise Refused(Refusal.MALFORMED, "the body is not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise Refused(Refusal.MALFORMED, "no empty line between the old size and proof lines and the checkpoint")
    lines = head.split("\n")
    old, space, size_text = lines[0].partition(" ")
    if old != "old" or not space or not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise Refused(Refusal.MALFORMED, f"the first line must be 'old <size>' in decimal, got {lines[0]!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Refused(Refusal.MALFORMED, f"{len(lines) - 1} consistency proof lines, at most {MAX_PROOF_LINES}")
    proof = []
    for number, line in enumerate(lines[1:], start=1):
        try:
            raw = _canonical_b64(line, f"consistency proof line {number}")
        except WitnessError as error:
            raise Refused(Refusal.MALFORMED, str(error)) from None
        if len(raw) != merkle.HASH_SIZE:
            raise Refused(Refusal.MALFORMED, f"consistency proof line {number} is {len(raw)} bytes, want 32")
        proof.append(raw)
    return Submission(int(size_text), tuple(proof), note)


def signed_checkpoint(note: str, log_keys: Mapping[str, Sequence[VerifierKey]]) -> tuple[str, Checkpoint]:
    """(body, checkpoint) of a note signed by a log key trusted for its origin: MALFORMED, UNKNOWN_LOG (no key for
    the origin) or BAD_SIGNATURE (no trusted signature verifies, or one under a trusted key does not)."""
    try:
        body, signatures = note_signatures(note)
        checkpoint = parse_checkpoint(body)
    except NoteError as error:
        raise Refused(Refusal.MALFORMED, str(error)) from None
    keys = log_keys.get(checkpoint.origin)
    if not keys:
        raise Refused(Refusal.UNKNOWN_LOG, f"no log with origin {checkpoint.origin!r} is known here")
    verified = False
    for key in keys:
        try:
            verified = verify_note_signature(body, signatures, key.name, key.public_key) or verified
        except NoteError as error:
            raise Refused(Refusal.BAD_SIGNATURE, str(error)) from None
    if not verified:
        raise Refused(Refusal.BAD_SIGNATURE, f"no signature by a key trusted for {checkpoint.origin!r}")
    return body, checkpoint


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The latest checkpoint a witness cosigned for one origin."""

    size: int
    root: bytes


def decide(submission: Submission, checkpoint: Checkpoint, latest: Witnessed | None) -> Witnessed:
    """The witness's new state for the origin if it may cosign ``checkpoint``; Refused otherwise (tlog-witness:
    old size above the checkpoint's, old size not the latest cosigned, proof not consistent, same size another
    root)."""
    old, size = submission.old_size, checkpoint.size
    if old > size:
        raise Refused(Refusal.OLD_SIZE_TOO_LARGE, f"old size {old} is above the checkpoint's size {size}")
    held = latest or Witnessed(0, merkle.EMPTY_ROOT)
    if old != held.size:
        raise Refused(Refusal.STALE_OLD_SIZE, f"old size {old} is not the latest cosigned size {held.size}", held.size)
    if old == size:
        if checkpoint.root != held.root:
            raise Refused(
                Refusal.ROOT_MISMATCH, f"a checkpoint of size {size} with another root was cosigned here", held.size
            )
        if submission.proof:
            raise Refused(Refusal.BAD_PROOF, f"old size and size are both {size}: the proof must be empty")
    elif old == 0:
        if submission.proof:
            raise Refused(Refusal.BAD_PROOF, "old size 0: the proof must be empty")
    else:
        try:
            merkle.verify_consistency(old, size, held.root, checkpoint.root, submission.proof)
        except merkle.ProofError as error:
            raise Refused(
                Refusal.BAD_PROOF, f"consistency proof from {old} to {size} does not verify: {error}"
            ) from None
    return Witnessed(size, checkpoint.root)


# ---------------------------------------------------------------------------------------- the log's side: submitting


class WitnessStatus(StrEnum):
    """How a witness stands with the log, as the service last found it."""

    PENDING = "pending"  # not answered yet
    COSIGNED = "cosigned"  # cosigned the newest checkpoint submitted to it
    UNREACHABLE = "unreachable"  # no answer in time, no connection, or a server error: retried
    REFUSED = "refused"  # declined to cosign (another history of the log, an unknown log or key): retried, logged


@dataclass(frozen=True, slots=True)
class WitnessEndpoint:
    url: str  # the submission prefix: requests go to <url>/add-checkpoint
    key: VerifierKey


def parse_witness_list(text: str) -> list[WitnessEndpoint]:
    """``URL VERIFIERKEY`` pairs separated by ``;`` (PASSPORT_WITNESSES); WitnessError names a bad entry."""
    found: list[WitnessEndpoint] = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        words = entry.split()
        if len(words) != 2:
            raise WitnessError(f"witness {entry!r}: want 'URL VERIFIERKEY'")
        url, vkey = words
        if not url.startswith(("http://", "https://")):
            raise WitnessError(f"witness {entry!r}: the URL must be http:// or https://")
        key = parse_verifier_key(vkey, COSIGNATURE_V1)
        if any(w.key == key for w in found):
            raise WitnessError(f"witness key {key.text} is given twice")
        found.append(WitnessEndpoint(url.rstrip("/"), key))
    return found


@dataclass(frozen=True, slots=True)
class Answer:
    """What a witness's refusal means for the log: its status, the size to submit from again at once (a 409 that
    names a smaller size than the old size sent), and why."""

    status: WitnessStatus
    reason: str
    retry_from: int | None = None


def read_refusal(code: int, content_type: str, body: bytes, old_size: int, size: int) -> Answer:
    """A witness's non-200 answer to ``old <old_size>`` and a checkpoint of ``size`` (tlog-witness statuses)."""
    text = body.decode(errors="replace").strip()[:300]
    if code == 409:
        if content_type.split(";")[0].strip() != "text/x.tlog.size" or not _DECIMAL.fullmatch(text):
            return Answer(WitnessStatus.REFUSED, f"409 without a tree size: {text!r}")
        held = int(text)
        if held > size:
            return Answer(
                WitnessStatus.REFUSED,
                f"it has cosigned size {held}, above this log's {size}: it was shown another history of the log",
            )
        if held == old_size:
            return Answer(
                WitnessStatus.REFUSED,
                f"it has cosigned another checkpoint of size {held} (another root): it was shown a fork of the log",
            )
        return Answer(WitnessStatus.PENDING, f"it has cosigned size {held}, not {old_size}", retry_from=held)
    reasons = {
        422: f"it rejects the consistency proof from size {old_size} to {size}: it holds another tree of size "
        f"{old_size} (a fork of the log)",
        403: "no signature by a log key it trusts: it does not trust this log's key",
        404: "it does not know this log's origin",
        400: "it calls the request malformed",
        413: "it calls the request too large",
    }
    if code in reasons:
        return Answer(WitnessStatus.REFUSED, f"{code}: {reasons[code]} ({text})")
    return Answer(WitnessStatus.UNREACHABLE, f"answered {code}: {text}")
