"""Merkle log storage: stored subtree hashes, the size row, pending leaves, and events rebuilt as canonical leaves."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, RowMapping, select
from sqlalchemy.orm import Session, SessionTransaction

from app.db.custody import WriteBatch, in_import_package
from app.db.lot_counters import merge_deltas, merging_ctes
from app.db.models import (
    Batch,
    Containment,
    Event,
    EventItem,
    LogNode,
    LogPending,
    LogState,
    PassportVersion,
    Product,
    Unit,
)
from app.db.pairs import pairs_in
from app.domain import merkle
from app.domain.leaf import LeafEvent, LeafItem

logger = logging.getLogger("passport")
PENDING = "log_pending"  # session.info key: the transaction left leaves pending (PostgreSQL)
# session.info key: the sequencer's lock tried with the writes of the request's last event (``try_sequencer_with``),
# and the transaction it was tried in: ``integrate_here`` then needs no statement of its own to try it
SEQUENCER_TRIED = "log_sequencer_tried"
_COMMITTED_PENDING = "log_committed_pending"  # session.info key: ... and has committed them; integrate at its end

# The append path runs once per event: plain driver SQL, no statement compilation.
_TAKE_INDEX = "UPDATE log_state SET tree_size = tree_size + 1 WHERE id = 1 RETURNING tree_size"
_STORE = {
    "sqlite": 'INSERT INTO log_node (level, "index", hash, event_id) VALUES (?, ?, ?, ?)',
    "postgresql": 'INSERT INTO log_node (level, "index", hash, event_id) VALUES (%s, %s, %s, %s)',
}


# The sequencer's lock on PostgreSQL: transaction-level, so an integration that finds nothing to do commits without
# having written anything (a row lock would write the row, and its commit would wait for the WAL's flush).
_SEQUENCER_LOCK = "SELECT pg_advisory_xact_lock(16019, 3)"
_TRY_SEQUENCER_LOCK = "SELECT pg_try_advisory_xact_lock(16019, 3)"
_SIZE = "SELECT tree_size FROM log_state WHERE id = 1"
_SET_SIZE = {
    "sqlite": "UPDATE log_state SET tree_size = ? WHERE id = 1",
    "postgresql": "UPDATE log_state SET tree_size = %s WHERE id = 1",
}
_ADD_PENDING = {
    "sqlite": "INSERT INTO log_pending (hash, event_id) VALUES (?, ?)",
    "postgresql": "INSERT INTO log_pending (hash, event_id) VALUES (%s, %s)",
}
_PENDING = "SELECT id, hash, event_id FROM log_pending ORDER BY id"
_TAKE_PENDING = "DELETE FROM log_pending RETURNING id, hash, event_id"
_DROP_PENDING = {
    "sqlite": "DELETE FROM log_pending WHERE id <= ?",
    "postgresql": "DELETE FROM log_pending WHERE id = ANY(%s)",
}


def add_pending(conn: Connection, leaf_hash: bytes, event_id: int | None, batch: WriteBatch | None = None) -> None:
    """A leaf without an index yet: it commits with its event, and the sequencer integrates it later. With
    ``batch`` (PostgreSQL), sent with the event's other writes."""
    if batch is not None:
        batch.add(_ADD_PENDING["postgresql"], (leaf_hash, event_id))
        return
    conn.exec_driver_sql(_ADD_PENDING[conn.dialect.name], (leaf_hash, event_id))


def lock_size(conn: Connection) -> int:
    """The log's size, with the sequencer's lock held until the transaction ends: one sequencer at a time (on
    SQLite the transaction already holds the database's write lock)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_SEQUENCER_LOCK)
    return int(conn.exec_driver_sql(_SIZE).scalar_one())


def set_size(conn: Connection, size: int) -> None:
    conn.exec_driver_sql(_SET_SIZE[conn.dialect.name], (size,))


def take_pending(conn: Connection) -> list[tuple[bytes, int | None]]:
    """Every pending leaf this transaction sees (committed ones, on PostgreSQL), in ``id`` order, removed from the
    pending table. Call holding the sequencer's lock (``lock_size``)."""
    if conn.dialect.name == "postgresql":  # one round trip: the rows this statement deletes are those it sees
        taken = sorted(conn.exec_driver_sql(_TAKE_PENDING).all())
        return [(bytes(h), e) for _, h, e in taken]
    rows = conn.exec_driver_sql(_PENDING).all()
    if not rows:
        return []
    ids = [int(r[0]) for r in rows]
    conn.exec_driver_sql(_DROP_PENDING[conn.dialect.name], (max(ids) if conn.dialect.name == "sqlite" else ids,))
    return [(bytes(h), e) for _, h, e in rows]


def take_index(session: Session) -> int:
    """Reserve the next leaf index (SQLite, where writers run one at a time; PostgreSQL integrates pending leaves
    instead, see ``integrate_locked``). The UPDATE locks the one size row until the transaction ends, which keeps
    indices dense and unique (and a rollback gives the index back)."""
    return int(session.connection().exec_driver_sql(_TAKE_INDEX).scalar_one()) - 1


def log_index_of(session: Session, event_id: int) -> int | None:
    return session.scalar(select(LogNode.index).where(LogNode.level == 0, LogNode.event_id == event_id))


def tree_size(conn: Connection) -> int:
    return int(conn.execute(select(LogState.tree_size).where(LogState.id == 1)).scalar_one())


@functools.cache
def _nodes_sql(count: int, dialect: str) -> str:
    """Driver SQL reading ``count`` nodes by (level, index): an append reads a few (no statement to compile)."""
    mark = "%s" if dialect == "postgresql" else "?"
    wanted = " OR ".join([f'(level = {mark} AND "index" = {mark})'] * count)
    return f'SELECT level, "index", hash FROM log_node WHERE {wanted}'  # noqa: S608 - markers only


def fetch_nodes(conn: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(keys))
    found: dict[tuple[int, int], bytes] = {}
    if len(wanted) <= 8:  # an append's left siblings (one per trailing 1 bit of its index), a small proof
        if wanted:
            params = tuple(x for key in wanted for x in key)
            rows = conn.exec_driver_sql(_nodes_sql(len(wanted), conn.dialect.name), params)
            found.update({(int(level), int(index)): bytes(value) for level, index, value in rows})
        return found
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            select(LogNode.level, LogNode.index, LogNode.hash).where(pairs_in(LogNode.level, LogNode.index, chunk))
        )
        found.update({(level, index): bytes(value) for level, index, value in rows})
    return found


def store_nodes(session: Session, entries: list[tuple[tuple[int, int], bytes]], event_id: int | None) -> None:
    """Store newly complete subtrees; the leaf (level 0) carries the id of its event."""
    insert_nodes(
        session.connection(),
        [(level, index, value, event_id if level == 0 else None) for (level, index), value in entries],
    )


def insert_nodes(conn: Connection, rows: list[tuple[int, int, bytes, int | None]]) -> None:
    """(level, index, hash, event id of a leaf or None) rows, in one executemany."""
    if rows:
        conn.exec_driver_sql(_STORE[conn.dialect.name], rows)


def leaf_hashes(conn: Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        select(LogNode.hash)
        .where(LogNode.level == 0, LogNode.index >= start, LogNode.index < end)
        .order_by(LogNode.index)
    )
    return [bytes(r) for r in rows.scalars()]


def _leaf_items(conn: Connection, event_ids: list[int]) -> dict[int, list[LeafItem]]:
    items: dict[int, list[LeafItem]] = {i: [] for i in event_ids}
    rows = conn.execute(
        select(EventItem.event_id, Unit.gtin, Unit.serial, EventItem.container_sscc, EventItem.before, EventItem.after)
        .outerjoin(Unit, Unit.id == EventItem.unit_id)
        .where(EventItem.event_id.in_(event_ids))
        .order_by(EventItem.id)
    )
    for event_id, gtin, serial, sscc, before, after in rows:
        unit = f"{gtin}/{serial}" if gtin is not None else None
        items[event_id].append(LeafItem(unit, sscc, before, after))
    return items


def leaf_events(conn: Connection, start: int, end: int) -> list[tuple[int, LeafEvent]]:
    """The events at log positions [start, end), as they stand in the event table now."""
    rows = [
        row._mapping
        for row in conn.execute(
            select(Event.__table__, LogNode.index.label("log_index"))
            .join(LogNode, (LogNode.event_id == Event.id) & (LogNode.level == 0))
            .where(LogNode.index >= start, LogNode.index < end)
            .order_by(LogNode.index)
        )
    ]
    items = _leaf_items(conn, [r["id"] for r in rows])
    return [(r["log_index"], _leaf(r, items[r["id"]])) for r in rows]


def pending_leaf_events(conn: Connection) -> list[tuple[bytes, LeafEvent]]:
    """The events whose leaves are pending (committed, not integrated yet: PostgreSQL), in the order the sequencer
    gives them indices, each with the hash its leaf committed to, as they stand in the event table now."""
    rows = [
        row._mapping
        for row in conn.execute(
            select(Event.__table__, LogPending.hash.label("pending_hash"))
            .join(LogPending, LogPending.event_id == Event.id)
            .order_by(LogPending.id)
        )
    ]
    items = _leaf_items(conn, [r["id"] for r in rows])
    return [(bytes(r["pending_hash"]), _leaf(r, items[r["id"]])) for r in rows]


def _leaf(row: RowMapping, items: list[LeafItem]) -> LeafEvent:
    return LeafEvent(
        event_id=row["id"],
        org=row["org_id"],
        action=row["action"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
        region=row["region"],
        to=row["to_id"],
        container=row["container_sscc"],
        channel=row["channel"],
        platform=row["platform_id"],
        order_ref=row["order_ref"],
        prescription=row["prescription_id"],
        undoes=row["undoes_event_id"],
        items=items,
    )


def manufacturers_of(conn: Connection, events: list[LeafEvent]) -> dict[int, set[str]]:
    """The manufacturers of the goods each event moved: of the units it names, and of the units inside the
    containers it names at that moment (packed at or before the event, not unpacked before it), at any depth."""
    gtins = {item.unit.split("/", 1)[0] for event in events for item in event.items if item.unit}
    maker_of_gtin: dict[str, str] = {}
    if gtins:
        rows = conn.execute(select(Product.gtin, Product.manufacturer_id).where(Product.gtin.in_(gtins)))
        maker_of_gtin = {gtin: maker for gtin, maker in rows}
    found: dict[int, set[str]] = {
        e.event_id: {maker_of_gtin[i.unit.split("/", 1)[0]] for i in e.items if i.unit} for e in events
    }
    # by parent SSCC: (child SSCC or None, unit batch or None, packed at, unpacked at), for every container reached
    links: dict[str, list[tuple[str | None, int | None, int, int | None]]] = {}
    frontier = {i.container for e in events for i in e.items if i.container}
    while frontier:
        rows = conn.execute(
            select(
                Containment.parent_sscc,
                Containment.child_sscc,
                Containment.batch_id,
                Containment.packed_event_id,
                Containment.unpacked_event_id,
            ).where(Containment.parent_sscc.in_(frontier))
        ).all()
        links.update({sscc: [] for sscc in frontier})
        for parent, child, batch_id, packed, unpacked in rows:
            links[parent].append((child, batch_id, packed, unpacked))
        # the lots of the units still in the packages an import put them in (no row; inside since the import)
        for parent, batch_id in conn.execute(
            select(Unit.container_sscc, Unit.batch_id)
            .where(Unit.container_sscc.in_(frontier), in_import_package())
            .distinct()
        ):
            links[parent].append((None, batch_id, 0, None))
        frontier = {row[1] for row in rows if row[1] is not None} - links.keys()
    batches = {b for children in links.values() for _, b, _, _ in children if b is not None}
    maker_of_batch: dict[int, str] = {}
    if batches:
        rows = conn.execute(
            select(Batch.id, Product.manufacturer_id)
            .join(Product, Product.gtin == Batch.gtin)
            .where(Batch.id.in_(batches))
        )
        maker_of_batch = {batch_id: maker for batch_id, maker in rows}
    for event in events:
        stack = [i.container for i in event.items if i.container]
        seen: set[str] = set()
        while stack:
            sscc = stack.pop()
            if sscc in seen:
                continue
            seen.add(sscc)
            for child, batch_id, packed, unpacked in links.get(sscc, ()):
                if packed > event.event_id or (unpacked is not None and unpacked < event.event_id):
                    continue
                if child is not None:
                    stack.append(child)
                elif batch_id is not None:
                    found[event.event_id].add(maker_of_batch[batch_id])
    return found


def passport_leaves(conn: Connection, start: int, end: int) -> dict[int, tuple[bytes, str]]:
    """The passport versions at log positions [start, end): their exact leaf bytes and the organisation that
    wrote each (passport leaves keep their bytes; events are rebuilt from their rows by ``leaf_events``)."""
    rows = conn.execute(
        select(PassportVersion.log_index, PassportVersion.leaf, PassportVersion.org_id).where(
            PassportVersion.log_index >= start, PassportVersion.log_index < end
        )
    )
    return {int(index): (bytes(leaf), org) for index, leaf, org in rows}


# ------------------------------------------------------------------------------------------------ sequencing


def integrate_locked(conn: Connection, own: list[tuple[bytes, int | None]] | None = None) -> int:
    """Take the sequencer's lock, merge the lot counters' deltas, and give the pending leaves (then ``own``) the next
    indices; the last index of the log then (-1 when empty)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_SEQUENCER_LOCK)
        return _integrate_pg(conn, own)[0]
    return _integrate(conn, lock_size(conn), own)[0]


@functools.cache
def _taking_sql() -> str:
    """PostgreSQL, the sequencer's lock held: one statement merges the lot counters' deltas, takes the pending leaves
    and reads the log's size and the stored right edge of the tree (the complete subtree ending at each 1 bit of the
    size: every stored node an append to it reads, ``merkle.completed_inputs``). Rows: (0, size, -, -), then
    (1, pending id, event id, hash) per leaf, (2, level, index, hash) per edge node. The statement starts after the
    lock is taken, so it sees every integration committed before (READ COMMITTED: a snapshot per statement)."""
    return (
        f"WITH {merging_ctes()},\n"  # noqa: S608 - the counters' constants (app/db/lot_counters.py), never input
        "taken_leaves AS (DELETE FROM log_pending RETURNING id, hash, event_id),\n"
        "size AS (SELECT tree_size FROM log_state WHERE id = 1),\n"
        "edge AS (SELECT l AS level, (size.tree_size >> l) - 1 AS idx FROM size, generate_series(0, 62) AS l "
        "WHERE (size.tree_size >> l) & 1 = 1)\n"
        "SELECT 0, tree_size, NULL::bigint, NULL::bytea FROM size\n"
        "UNION ALL SELECT 1, id, event_id, hash FROM taken_leaves\n"
        'UNION ALL SELECT 2, n.level, n."index", n.hash FROM edge JOIN log_node n '
        'ON n.level = edge.level AND n."index" = edge.idx'
    )


# PostgreSQL: the completed nodes and the new size in one statement
_STORE_AND_SIZE = (
    'WITH stored AS (INSERT INTO log_node (level, "index", hash, event_id) '
    "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::bytea[], %s::bigint[])) "
    "UPDATE log_state SET tree_size = %s WHERE id = 1"
)


def _integrate_pg(conn: Connection, own: list[tuple[bytes, int | None]] | None = None) -> tuple[int, dict[int, int]]:
    """``_integrate`` on PostgreSQL in two round trips (it took seven): the sequencer's lock held, merge the deltas
    and take the pending leaves and what the append reads in one statement (``_taking_sql``), then store the
    completed nodes and the new size in another."""
    size = 0
    pending: list[tuple[int, bytes, int | None]] = []
    known: dict[tuple[int, int], bytes] = {}
    for tag, a, b, value in conn.exec_driver_sql(_taking_sql()):
        if tag == 0:
            size = int(a)
        elif tag == 1:
            pending.append((int(a), bytes(value), b))
        else:
            known[(int(a), int(b))] = bytes(value)
    leaves = [(h, e) for _, h, e in sorted(pending)] + (own or [])
    if not leaves:
        return size - 1, {}
    rows, placed = _appended(size, leaves, known)
    conn.exec_driver_sql(
        _STORE_AND_SIZE,
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows], size + len(leaves)),
    )
    return size + len(leaves) - 1, placed


def _appended(
    size: int, leaves: list[tuple[bytes, int | None]], known: dict[tuple[int, int], bytes]
) -> tuple[list[tuple[int, int, bytes, int | None]], dict[int, int]]:
    """The nodes completed by appending ``leaves`` to a log of ``size`` (``known`` holding the stored ones they
    read), and the index given to each event's leaf."""
    rows: list[tuple[int, int, bytes, int | None]] = []
    placed: dict[int, int] = {}
    for offset, (leaf_hash, event_id) in enumerate(leaves):
        completed = merkle.completed_nodes(size + offset, leaf_hash, known)
        known.update(completed)
        rows.extend((level, index, value, event_id if level == 0 else None) for (level, index), value in completed)
        if event_id is not None:
            placed[event_id] = size + offset
    return rows, placed


def _integrate(
    conn: Connection, size: int, own: list[tuple[bytes, int | None]] | None = None
) -> tuple[int, dict[int, int]]:
    """With the sequencer's lock held and the log's ``size`` read: merge the deltas and integrate the pending leaves
    (then ``own``); the last index then, and the index given to each event's leaf."""
    merge_deltas(conn)  # the lot counters' changes of the same events, in the same batch
    leaves = take_pending(conn) + (own or [])
    if not leaves:
        return size - 1, {}
    wanted = set().union(*(merkle.completed_inputs(size + i) for i in range(len(leaves))))
    # the left siblings inside the log as it was are stored; those completed by this batch are computed below
    stored = {(level, index) for level, index in wanted if (index + 1) << level <= size}
    known = fetch_nodes(conn, stored) if stored else {}
    rows, placed = _appended(size, leaves, known)
    insert_nodes(conn, rows)
    set_size(conn, size + len(leaves))
    return size + len(leaves) - 1, placed


def integrate_here(session: Session) -> dict[int, int] | None:
    """PostgreSQL, a transaction that left leaves pending, before it commits: if no integration holds the
    sequencer's lock, take it (without waiting) and integrate now, in this transaction: its own pending leaves
    with every committed one, so its one commit publishes them (one commit where the batch takes two, and no
    second transaction). The index given to each event's leaf; None, with nothing done, when another integration
    holds the lock (under concurrency): the leaves then commit pending and the batch integrates them. The lock is
    held until the commit, tried after every row lock of the request (the session is flushed first, so no
    unflushed change takes a row lock after it; ``try_sequencer_with`` tries it with the last writes) and never
    waited for."""
    conn = session.connection()
    if conn.dialect.name != "postgresql" or not session.info.get(PENDING):
        return None
    session.flush()
    tried = session.info.pop(SEQUENCER_TRIED, None)
    if tried is not None and tried[0] is conn.get_transaction():  # tried in this very transaction
        if not tried[1]:
            return None
    elif not conn.exec_driver_sql(_TRY_SEQUENCER_LOCK).scalar():
        return None
    placed = _integrate_pg(conn)[1]
    session.info.pop(PENDING, None)
    return placed


def try_sequencer_with(session: Session, batch: WriteBatch) -> None:
    """PostgreSQL: send ``batch`` (the last writes of a transaction that leaves leaves pending and commits next,
    ``POST /v1/events``' single event) with ``integrate_here``'s try of the sequencer's lock as its main query:
    one round trip for both. PostgreSQL evaluates the main query before its data-modifying parts have run, so the
    lock may be taken while the batch's own writes still run: they change only unit rows the request already holds
    locked (app/db/custody.py's ``lock_*``) and insert new rows, and nothing waits for this lock while holding a row
    lock (events only try it; the batch's integration takes it first, in a transaction of its own), so it costs the
    lock held a little longer, not a deadlock. Never waited for; whether it was taken is kept for
    ``integrate_here``, for this transaction only."""
    conn = session.connection()
    taken = bool(batch.send(conn, then=_TRY_SEQUENCER_LOCK))
    session.info[SEQUENCER_TRIED] = (conn.get_transaction(), taken)


def integrate(engine: Engine) -> int:
    """Integrate every committed pending leaf, in a transaction of its own; how many leaves the log has then.
    Waits while another integration holds the sequencer's lock, and then usually finds nothing left to do."""
    with engine.begin() as conn:
        if conn.dialect.name != "postgresql":
            return tree_size(conn)  # nothing is ever pending on SQLite
        return integrate_locked(conn) + 1


def integrate_before_commit(session: Session) -> None:
    """``before_commit`` hook for every session: a transaction that leaves leaves pending (an EPCIS capture, an
    import, the CLI) integrates them itself when the sequencer is free (``integrate_here``); otherwise they commit
    pending and ``integrate_after_end`` waits for the sequencer once the transaction has ended."""
    if session.in_nested_transaction() or not session.info.get(PENDING):
        return
    integrate_here(session)


def integrate_after_commit(session: Session) -> None:
    """``after_commit`` hook for every session: a transaction that committed pending leaves and did not ``publish``
    them (an EPCIS capture, an import, the CLI) is marked, and integrates them once it has ended
    (``integrate_after_end``), before its caller goes on."""
    if not session.in_nested_transaction() and session.info.pop(PENDING, False):
        session.info[_COMMITTED_PENDING] = True  # a savepoint's commit commits nothing yet


def integrate_after_end(session: Session, transaction: SessionTransaction) -> None:
    """``after_transaction_end`` hook: the integration the commit asked for, now that the session has given its
    connection back to the pool (integrating inside ``after_commit`` took a second connection while still holding
    the first: requests committing at once could each hold one and wait for another, exhausting the pool). A
    failure is logged, not raised (the caller's writes are committed): the leaves wait for the next integration."""
    if transaction.parent is not None or not session.info.pop(_COMMITTED_PENDING, False):
        return
    try:
        integrate(session.get_bind())  # type: ignore[arg-type]
    except Exception:
        logger.exception("log: integrating pending leaves after a commit failed; they wait for the next integration")
