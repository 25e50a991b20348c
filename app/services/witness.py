"""A witness of other logs (`passport witness serve`): its key file and the state it keeps, durably.

The state is one SQLite file of the witness's own (not the service's database): per log origin, the latest
checkpoint it cosigned. ``add_checkpoint`` reads that row, decides (app/domain/witness.py) and writes the new one
in one ``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL``, so two submissions never both pass the old-size
check (tlog-witness's rollback race) and a cosignature is only returned once its state is on disk. A refused
submission whose log signature verified is kept as evidence: it may be the proof of a fork.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.domain.witness import (
    Refusal,
    Refused,
    VerifierKey,
    Witnessed,
    WitnessError,
    cosign,
    decide,
    parse_signer_key,
    parse_submission,
    signed_checkpoint,
    signer_key_text,
)

logger = logging.getLogger("passport.witness")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS witnessed (
    origin TEXT PRIMARY KEY,
    size TEXT NOT NULL,        -- decimal: a tree size may reach 2**64 - 1, past SQLite's integers
    root BLOB NOT NULL,
    note TEXT NOT NULL,        -- the checkpoint as the log signed it
    cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    refusal TEXT NOT NULL,
    reason TEXT NOT NULL,
    request BLOB NOT NULL
);
"""


def create_key_file(path: Path, name: str) -> VerifierKey:
    """Write a new witness key to ``path`` (never over an existing file; readable by its owner only)."""
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    text = signer_key_text(name, seed)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise WitnessError(f"{path} exists: a witness key is never overwritten") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return parse_signer_key(text)[0]


def load_key_file(path: Path) -> tuple[VerifierKey, bytes]:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise WitnessError(f"cannot read the witness key {path}: {error}") from None
    return parse_signer_key(text)


def trusted_logs(log_keys: Sequence[VerifierKey]) -> dict[str, list[VerifierKey]]:
    """The log keys by origin (a log's key name is its checkpoints' origin line)."""
    found: dict[str, list[VerifierKey]] = {}
    for key in log_keys:
        found.setdefault(key.name, []).append(key)
    return found


@dataclass(frozen=True, slots=True)
class Answer:
    """What the witness answers: a status kind and a text body (cosignature lines, a size, or a reason)."""

    refusal: Refusal | None
    body: str


class Witness:
    def __init__(self, key: VerifierKey, seed: bytes, log_keys: Mapping[str, Sequence[VerifierKey]], state: Path):
        self.key = key
        self._seed = seed
        self.log_keys = log_keys
        self.state = state
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.state, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def latest(self, origin: str) -> Witnessed | None:
        conn = self._connect()
        try:
            row = conn.execute("SELECT size, root FROM witnessed WHERE origin = ?", (origin,)).fetchone()
        finally:
            conn.close()
        return None if row is None else Witnessed(int(row[0]), bytes(row[1]))

    def add_checkpoint(self, request: bytes, now: int) -> Answer:
        """tlog-witness add-checkpoint: cosignature lines, or the refusal and its reason."""
        try:
            submission = parse_submission(request)
            body, checkpoint = signed_checkpoint(submission.note, self.log_keys)
        except Refused as refused:
            logger.warning("witness %s refused a submission: %s", self.key.name, refused)
            return Answer(refused.refusal, f"{refused}\n")
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT size, root FROM witnessed WHERE origin = ?", (checkpoint.origin,)).fetchone()
            latest = None if row is None else Witnessed(int(row[0]), bytes(row[1]))
            try:
                state = decide(submission, checkpoint, latest)
            except Refused as refused:
                conn.execute(
                    "INSERT INTO refused (origin, received_at, refusal, reason, request) VALUES (?, ?, ?, ?, ?)",
                    (checkpoint.origin, now, refused.refusal.value, str(refused), request),
                )
                conn.execute("COMMIT")
                logger.error(
                    "witness %s refused to cosign %s at size %d: %s",
                    self.key.name,
                    checkpoint.origin,
                    checkpoint.size,
                    refused,
                )
                if refused.latest is not None:
                    return Answer(refused.refusal, f"{refused.latest}\n")
                return Answer(refused.refusal, f"{refused}\n")
            conn.execute(
                "INSERT INTO witnessed (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
                "note = excluded.note, cosigned_at = excluded.cosigned_at",
                (checkpoint.origin, str(state.size), state.root, submission.note, now),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
        logger.info("witness %s cosigned %s at size %d", self.key.name, checkpoint.origin, checkpoint.size)
        return Answer(None, cosign(body, self.key.name, self._seed, now))

    def refusals(self) -> list[tuple[str, str, str]]:
        """(origin, refusal, reason) of every refused submission kept as evidence, oldest first."""
        conn = self._connect()
        try:
            return [
                (str(o), str(k), str(r))
                for o, k, r in conn.execute("SELECT origin, refusal, reason FROM refused ORDER BY id")
            ]
        finally:
            conn.close()
