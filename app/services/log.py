"""The tamper-evident log: every accepted event becomes a leaf of one append-only RFC 9162 Merkle tree.

The tree is public (checkpoints, leaf hashes, proofs); an event's content is not. ``entries`` gives a leaf's bytes
only to whoever may read that event (see ``readable``) and only its hash to anyone else, so a reader can still
rebuild the whole tree and check every checkpoint and proof (see passport_schema/log-privacy.md).

Sequencing (docs/log.md#sequencing). A leaf is written in its event's own transaction (a rolled-back event leaves
no leaf). On SQLite, which runs one writer at a time anyway, the append takes the next index there and then. On
PostgreSQL an event's leaf commits *pending* (``log_pending``: its hash and event, no index), so concurrent events
do not queue behind one row; right after the commit the request integrates: it takes the sequencer's lock (a
transaction-level advisory lock), gives ALL committed pending leaves the next dense indices in ``id`` order, stores
the completed subtree hashes, and commits. A request whose leaf another request's batch already integrated finds
it done, or finds nothing pending once it has the lock (group commit: one leader, its followers). A crash between
the two commits leaves the leaf pending for the next integration (the next request that integrates, the service's
start, a checkpoint). Leaves that must know their index inside their own transaction (passport versions and case
changes keep it in their rows) integrate there, holding the sequencer's lock until they commit. Only the hashes of
complete subtrees are stored: a proof reads O(log n) of them, whatever the size of the log.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app.db.cases import case_leaves
from app.db.custody import EventRow, WriteBatch
from app.db.log import (
    PENDING,
    add_pending,
    fetch_nodes,
    integrate,
    integrate_here,
    integrate_locked,
    leaf_events,
    leaf_hashes,
    manufacturers_of,
    passport_leaves,
    store_nodes,
    take_index,
    tree_size,
)
from app.db.models import Event, LogCheckpoint, LogKey, LogNode
from app.db.witnesses import cosignature_lines
from app.domain import merkle
from app.domain.checkpoint import checkpoint_body, note_key_id, sign_note, verifier_key
from app.domain.errors import InvalidInput, NotFound
from app.domain.leaf import LeafEvent, leaf_bytes
from app.domain.orgs import READS_EVERYTHING
from app.domain.signing import jwk, open_private_key, public_key_bytes, seal_private_key
from app.services.clock import utcnow

MAX_ENTRIES = 1_000
LOG_KEY_TAG = 0  # associated data for sealing the log key, distinct from every code-signing key tag


def log_origin(base_url: str) -> str:
    """The checkpoint origin line: the service's host and path, without the scheme (C2SP tlog-checkpoint)."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/log"


def append(session: Session, leaf: LeafEvent, event: Event | EventRow, batch: WriteBatch | None = None) -> int | None:
    """Add the event as a leaf, in the event's transaction. Its index on SQLite; None on PostgreSQL, where the leaf
    is pending until the transaction commits and integrates (``publish``; read the index then: app.db.log
    ``log_index_of``).

    ``leaf`` is built by the caller from what it just wrote; the entries endpoint rebuilds the same bytes from
    the event table (and the auditor checks that they still agree)."""
    data = leaf_bytes(leaf)
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return append_bytes(session, data, event.id)
    add_pending(conn, merkle.leaf_hash(data), event.id, batch)
    session.info[PENDING] = True
    return None


def append_bytes(session: Session, data: bytes, event_id: int | None) -> int:
    """Add ``data`` as the next leaf now, in the caller's transaction; return its index. The sequencer's lock (the
    size row on SQLite) is held until that transaction ends. ``event_id`` is None for a leaf that is not an event
    (a passport version or a case change, which keep their own bytes and index: app/services/passport_versions.py,
    cases.py)."""
    leaf_hash = merkle.leaf_hash(data)
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        index = take_index(session)
        inputs = merkle.completed_inputs(index)
        nodes = fetch_nodes(conn, inputs) if inputs else {}
        store_nodes(session, merkle.completed_nodes(index, leaf_hash, nodes), event_id)
        return index
    return integrate_locked(conn, [(leaf_hash, event_id)])


def publish(session: Session, event_ids: list[int]) -> dict[int, int]:
    """After a request's writes, the log indices of these events. If the writes left leaves pending, commit them
    (the session then reads on in a new transaction): when the sequencer is free the transaction integrates them
    itself before its commit (``integrate_here``: one commit, the indices known at once); otherwise, if any of the
    events has no index yet, integrate after the commit: the request leads a batch, or waits for the sequencer's
    lock while another integrates and finds its leaves done. An event of another request, committed but not
    integrated yet (a duplicate sent twice at once), is integrated the same way. An integration that fails after
    the commit raises, with the events committed: their leaves wait for the next integration."""
    found: dict[int, int] = {}
    if session.info.get(PENDING):
        placed = integrate_here(session)
        if placed is not None:
            found = {e: placed[e] for e in event_ids if e in placed}
        session.info.pop(PENDING, None)
        session.commit()
    missing = [e for e in event_ids if e not in found]
    if missing:  # already integrated by another request's batch (a duplicate): nothing to do
        found.update(indices_of(session, missing))
    if len(found) < len(set(event_ids)) and session.get_bind().dialect.name == "postgresql":
        # the session's connection goes back to the pool first: requests that each held one while waiting for
        # another (the integration's) could exhaust the pool between them
        session.commit()
        integrate(session.get_bind())  # type: ignore[arg-type]
        found.update(indices_of(session, [e for e in event_ids if e not in found]))
    return found


def indices_of(session: Session, event_ids: list[int]) -> dict[int, int]:
    """The log indices of these events' leaves (those integrated)."""
    found: dict[int, int] = {}
    for start in range(0, len(event_ids), 500):
        rows = session.execute(
            select(LogNode.event_id, LogNode.index).where(
                LogNode.level == 0, LogNode.event_id.in_(event_ids[start : start + 500])
            )
        )
        found.update({int(e): int(i) for e, i in rows})
    return found


def root_hash(conn: Connection, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    return merkle.range_hash(0, size, fetch_nodes(conn, merkle.root_nodes(size)))


def _check_size(conn: Connection, size: int, name: str) -> None:
    current = tree_size(conn)
    if not 0 < size <= current:
        raise InvalidInput(f"{name} must be between 1 and the tree size ({current})", code="invalid_tree_size")


def inclusion_proof(conn: Connection, leaf_index: int, size: int) -> list[bytes]:
    _check_size(conn, size, "tree_size")
    if not 0 <= leaf_index < size:
        raise InvalidInput(f"leaf_index must be below tree_size ({size})", code="invalid_leaf_index")
    return merkle.inclusion_proof(leaf_index, size, fetch_nodes(conn, merkle.inclusion_nodes(leaf_index, size)))


def consistency_proof(conn: Connection, first: int, second: int) -> list[bytes]:
    _check_size(conn, second, "second")
    if not 0 < first <= second:
        raise InvalidInput("first must be between 1 and second", code="invalid_tree_size")
    return merkle.consistency_proof(first, second, fetch_nodes(conn, merkle.consistency_nodes(first, second)))


@dataclass(frozen=True, slots=True)
class Reader:
    """Who asks for entries: ``None`` reads everything (the operator's own export)."""

    org_id: str
    role: str


@dataclass(frozen=True, slots=True)
class Entries:
    start: int
    end: int
    leaves: list[bytes | None]  # canonical bytes as the events stand now; None where the reader may not see it
    hashes: list[bytes]  # the leaf hashes the log committed to (all of them: the tree is public)


def readable(reader: Reader | None, leaf: LeafEvent, manufacturers: set[str]) -> bool:
    """An event is read by its parties (actor, addressee, platform), the manufacturers of the goods it moved,
    and auditors (regulators; the operator's admin keys): the same rule as a unit's history."""
    if reader is None or reader.role in READS_EVERYTHING:
        return True
    return reader.org_id in (leaf.org, leaf.to, leaf.platform) or reader.org_id in manufacturers


def entries(conn: Connection, start: int, end: int, reader: Reader | None) -> Entries:
    size = tree_size(conn)
    if not 0 <= start < end or end - start > MAX_ENTRIES:
        raise InvalidInput(f"ask for 1 to {MAX_ENTRIES} entries with 0 <= start < end", code="invalid_range")
    end = min(end, size)
    if start >= end:
        raise NotFound(f"the log has {size} entries", code="entries_not_found")
    events = leaf_events(conn, start, end)
    leaves = [leaf for _, leaf in events]
    makers = manufacturers_of(conn, leaves) if reader is not None and reader.role not in READS_EVERYTHING else {}
    shown: dict[int, bytes | None] = {
        index: leaf_bytes(leaf) if readable(reader, leaf, makers.get(leaf.event_id, set())) else None
        for index, leaf in events
    }
    # Passport versions (kept as their exact bytes): read whole by their manufacturer and by auditors, who may
    # see every tier of a passport (passport_schema/passport-leaf.md).
    for index, (data, writer) in passport_leaves(conn, start, end).items():
        shown[index] = data if reader is None or reader.role in READS_EVERYTHING or reader.org_id == writer else None
    # Case changes (kept as their exact bytes): read whole by the case's opener, the product's manufacturer, the
    # organisation that made the change, and auditors (passport_schema/case-leaf.md).
    for index, (data, readers) in case_leaves(conn, start, end).items():
        shown[index] = data if reader is None or reader.role in READS_EVERYTHING or reader.org_id in readers else None
    return Entries(start, end, [shown.get(i) for i in range(start, end)], leaf_hashes(conn, start, end))


# ------------------------------------------------------------------------------------------------ checkpoints


def ensure_log_key(session: Session, master_key: bytes, name: str) -> LogKey:
    key = session.scalar(select(LogKey).order_by(LogKey.id.desc()).limit(1))
    if key is not None:
        return key
    private = os.urandom(32)
    key = LogKey(
        name=name,
        public_key=public_key_bytes(private),
        sealed_private_key=seal_private_key(master_key, LOG_KEY_TAG, private, os.urandom(12)),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key


def current_log_key(session: Session) -> LogKey:
    key = session.scalar(select(LogKey).order_by(LogKey.id.desc()).limit(1))
    if key is None:
        raise NotFound("the log has no signing key yet: run `passport init`", code="log_key_missing")
    return key


def log_key_view(key: LogKey) -> dict[str, object]:
    public = bytes(key.public_key)
    return {
        "name": key.name,
        "key_id": note_key_id(key.name, public).hex(),
        "public_key": base64.b64encode(public).decode(),
        "verifier_key": verifier_key(key.name, public),
        "jwk": {**jwk(0, public), "kid": note_key_id(key.name, public).hex()},
    }


def _newest_checkpoint(session: Session) -> LogCheckpoint | None:
    return session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.id.desc()).limit(1))


def make_checkpoint(session: Session, master_key: bytes, now: datetime | None = None) -> LogCheckpoint:
    """Sign the current tree head, unless the newest kept checkpoint already covers it. Leaves left pending (by a
    process that stopped between an event's commit and its integration) are integrated first."""
    conn = session.connection()
    size = integrate_locked(conn) + 1 if conn.dialect.name == "postgresql" else tree_size(conn)
    latest = _newest_checkpoint(session)
    if latest is not None and latest.tree_size >= size:
        return latest
    key = current_log_key(session)
    root = root_hash(conn, size)
    private = open_private_key(master_key, LOG_KEY_TAG, bytes(key.sealed_private_key))
    note = sign_note(checkpoint_body(key.name, size, root), key.name, private)
    checkpoint = LogCheckpoint(
        tree_size=size,
        root_hash=root,
        created_at=now or utcnow(),
        key_id=note_key_id(key.name, bytes(key.public_key)).hex(),
        note=note,
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def latest_checkpoint(session: Session) -> LogCheckpoint:
    checkpoint = _newest_checkpoint(session)
    if checkpoint is None:
        raise NotFound("no checkpoint has been signed yet", code="checkpoint_not_found")
    return checkpoint


def checkpoint_view(checkpoint: LogCheckpoint, cosignatures: Sequence[tuple[str, str]] = ()) -> dict[str, object]:
    """The checkpoint as served; ``cosignatures`` (witness name, tlog-cosignature line) follow the log's signature
    in the note, as signed-note allows (docs/witnesses.md)."""
    signature_line = checkpoint.note.rstrip("\n").split("\n")[-1]
    return {
        "id": checkpoint.id,
        "tree_size": checkpoint.tree_size,
        "root_hash": base64.b64encode(bytes(checkpoint.root_hash)).decode(),
        "timestamp": checkpoint.created_at.isoformat(),
        "key_id": checkpoint.key_id,
        "signature": signature_line.split(" ")[-1],
        "note": checkpoint.note + "".join(line for _, line in cosignatures),
        "cosigned_by": [name for name, _ in cosignatures],
    }


def checkpoint_views(session: Session, rows: Sequence[LogCheckpoint]) -> list[dict[str, object]]:
    """The views of ``rows``, each with the witnesses' cosignatures it has."""
    lines = cosignature_lines(session.connection(), [row.id for row in rows])
    return [checkpoint_view(row, lines.get(row.id, ())) for row in rows]


def checkpoints(session: Session, after_id: int, limit: int) -> list[LogCheckpoint]:
    return list(
        session.scalars(
            select(LogCheckpoint).where(LogCheckpoint.id > after_id).order_by(LogCheckpoint.id).limit(limit)
        )
    )


def export(session: Session) -> dict[str, object]:
    """Everything an offline auditor needs: the log key, every checkpoint and every entry."""
    conn = session.connection()
    size = tree_size(conn)
    rows: list[dict[str, object]] = []
    for start in range(0, size, MAX_ENTRIES):
        found = entries(conn, start, min(size, start + MAX_ENTRIES), None)
        rows.extend(
            {"index": start + i, "leaf": _b64(leaf), "leaf_hash": _b64(h)}
            for i, (leaf, h) in enumerate(zip(found.leaves, found.hashes, strict=True))
        )
    every = list(session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.id)))
    return {
        "log_key": log_key_view(current_log_key(session)),
        "checkpoints": checkpoint_views(session, every),
        "entries": rows,
    }
