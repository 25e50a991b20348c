"""Merkle log storage: stored subtree hashes, the size row, and events rebuilt as canonical leaves."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, RowMapping, select
from sqlalchemy.orm import Session

from app.db.models import Event, EventItem, LogNode, LogState, Unit
from app.db.pairs import pairs_in
from app.domain.leaf import LeafEvent, LeafItem

# The append path runs once per event: plain driver SQL, no statement compilation.
_TAKE_INDEX = "UPDATE log_state SET tree_size = tree_size + 1 WHERE id = 1 RETURNING tree_size"
_STORE = {
    "sqlite": 'INSERT INTO log_node (level, "index", hash, event_id) VALUES (?, ?, ?, ?)',
    "postgresql": 'INSERT INTO log_node (level, "index", hash, event_id) VALUES (%s, %s, %s, %s)',
}


def take_index(session: Session) -> int:
    """Reserve the next leaf index. The UPDATE locks the one size row until the transaction ends, which keeps
    indices dense and unique across concurrent writers (and a rollback gives the index back)."""
    return int(session.connection().exec_driver_sql(_TAKE_INDEX).scalar_one()) - 1


def log_index_of(session: Session, event_id: int) -> int | None:
    return session.scalar(select(LogNode.index).where(LogNode.level == 0, LogNode.event_id == event_id))


def tree_size(conn: Connection) -> int:
    return int(conn.execute(select(LogState.tree_size).where(LogState.id == 1)).scalar_one())


def fetch_nodes(conn: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(keys))
    found: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            select(LogNode.level, LogNode.index, LogNode.hash).where(pairs_in(LogNode.level, LogNode.index, chunk))
        )
        found.update({(level, index): bytes(value) for level, index, value in rows})
    return found


def store_nodes(session: Session, entries: list[tuple[tuple[int, int], bytes]], event_id: int) -> None:
    """Store newly complete subtrees; the leaf (level 0) carries the id of its event."""
    conn = session.connection()
    conn.exec_driver_sql(
        _STORE[conn.dialect.name],
        [(level, index, value, event_id if level == 0 else None) for (level, index), value in entries],
    )


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
