"""Merkle log storage: stored subtree hashes, the size row, and events rebuilt as canonical leaves."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, RowMapping, insert, select, tuple_
from sqlalchemy.orm import Session

from app.db.models import Event, EventItem, LogNode, LogState, Unit
from app.domain.leaf import LeafEvent, LeafItem


def lock_state(session: Session) -> LogState:
    state = session.scalar(select(LogState).where(LogState.id == 1).with_for_update())
    assert state is not None, "log_state row missing: run the migrations"
    return state


def tree_size(conn: Connection) -> int:
    return int(conn.execute(select(LogState.tree_size).where(LogState.id == 1)).scalar_one())


def fetch_nodes(conn: Connection, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = sorted(set(keys))
    found: dict[tuple[int, int], bytes] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = conn.execute(
            select(LogNode.level, LogNode.index, LogNode.hash).where(tuple_(LogNode.level, LogNode.index).in_(chunk))
        )
        found.update({(level, index): bytes(value) for level, index, value in rows})
    return found


def store_nodes(session: Session, entries: list[tuple[tuple[int, int], bytes]]) -> None:
    session.execute(
        insert(LogNode), [{"level": level, "index": index, "hash": value} for (level, index), value in entries]
    )


def leaf_hashes(conn: Connection, start: int, end: int) -> list[bytes]:
    rows = conn.execute(
        select(LogNode.hash).where(LogNode.level == 0, LogNode.index >= start, LogNode.index < end).order_by(
            LogNode.index
        )
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
            select(Event.__table__).where(Event.log_index >= start, Event.log_index < end).order_by(Event.log_index)
        )
    ]
    items = _leaf_items(conn, [r["id"] for r in rows])
    return [(r["log_index"], _leaf(r, items[r["id"]])) for r in rows]


def event_leaf(conn: Connection, event_id: int) -> LeafEvent:
    row = conn.execute(select(Event.__table__).where(Event.id == event_id)).one()._mapping
    return _leaf(row, _leaf_items(conn, [event_id])[event_id])


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
