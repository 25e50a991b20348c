"""Recall trace queries: aggregates over the units a recall covers, grouped in the database.

Loose units are grouped by their own custody; packed units by their container, whose outermost container holds
the custody (there are few containers). Hops follow shipments of the units themselves and of any container
they were in at the time (a recursive walk of the containment intervals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select, text

from app.db.history import outermost_container
from app.db.models import Batch, Event, EventItem, Unit

_OPEN = 2**62


@dataclass(frozen=True, slots=True)
class Scope:
    gtin: str
    batch_ids: Sequence[int]  # empty with no serials: the whole GTIN
    serials: Sequence[str]

    def condition(self) -> ColumnElement[bool]:
        if not self.batch_ids and not self.serials:
            return Unit.gtin == self.gtin
        parts = []
        if self.batch_ids:
            parts.append(Unit.batch_id.in_(self.batch_ids))
        if self.serials:
            parts.append(Unit.serial.in_(self.serials))
        return and_(Unit.gtin == self.gtin, or_(*parts) if parts else false())

    def sql(self, alias: str = "u") -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"gtin": self.gtin}
        if not self.batch_ids and not self.serials:
            return f"{alias}.gtin = :gtin", params
        parts = []
        for i, batch_id in enumerate(self.batch_ids):
            params[f"b{i}"] = batch_id
        if self.batch_ids:
            parts.append(f"{alias}.batch_id IN ({', '.join(f':b{i}' for i in range(len(self.batch_ids)))})")
        for i, serial in enumerate(self.serials):
            params[f"s{i}"] = serial
        if self.serials:
            parts.append(f"{alias}.serial IN ({', '.join(f':s{i}' for i in range(len(self.serials)))})")
        return f"{alias}.gtin = :gtin AND ({' OR '.join(parts)})", params


def batch_ids(conn: Connection, gtin: str, lots: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(select(Batch.lot, Batch.id).where(Batch.gtin == gtin, Batch.lot.in_(lots))).all()
    return {lot: batch_id for lot, batch_id in rows}


def custody_counts(conn: Connection, scope: Scope) -> dict[tuple[str, str | None, str | None], int]:
    """Units by (internal status, holder, in transit to), containers resolved to their outermost one."""
    counts: dict[tuple[str, str | None, str | None], int] = {}
    loose = conn.execute(
        select(Unit.state, Unit.holder_id, Unit.to_id, func.count())
        .where(scope.condition(), Unit.container_sscc.is_(None))
        .group_by(Unit.state, Unit.holder_id, Unit.to_id)
    )
    for state, holder, to, n in loose:
        counts[(state, holder, to)] = counts.get((state, holder, to), 0) + n
    packed = conn.execute(
        select(Unit.container_sscc, func.count())
        .where(scope.condition(), Unit.container_sscc.is_not(None))
        .group_by(Unit.container_sscc)
    )
    for sscc, n in packed:
        _, state, holder, to = outermost_container(conn, sscc)
        counts[(state, holder, to)] = counts.get((state, holder, to), 0) + n
    return counts


def sales(conn: Connection, scope: Scope) -> list[tuple[str, str | None, str | None, int]]:
    """(action, channel, platform, units) of standing sales and dispensings of units in scope."""
    rows = conn.execute(
        select(Event.action, Event.channel, Event.platform_id, func.count(func.distinct(EventItem.unit_id)))
        .join(EventItem, EventItem.event_id == Event.id)
        .join(Unit, Unit.id == EventItem.unit_id)
        .where(scope.condition(), Event.action.in_(("sell", "dispense")), Event.undone_by_event_id.is_(None))
        .group_by(Event.action, Event.channel, Event.platform_id)
    )
    return [(a, c, p, n) for a, c, p, n in rows]


def recovery(conn: Connection, scope: Scope, since: datetime) -> dict[str, int]:
    """Units returned, destroyed or recycled since the recall (recovery progress)."""
    rows = conn.execute(
        select(Event.action, func.count(func.distinct(EventItem.unit_id)))
        .join(EventItem, EventItem.event_id == Event.id)
        .join(Unit, Unit.id == EventItem.unit_id)
        .where(scope.condition(), Event.action.in_(("return", "destroy", "recycle")), Event.recorded_at >= since)
        .group_by(Event.action)
    )
    return dict(rows.all())


def hops(conn: Connection, scope: Scope) -> list[tuple[str, str, int]]:
    """(from, to, units) of every shipment that moved units in scope, directly or inside containers."""
    where, params = scope.sql("u")
    params["open"] = _OPEN
    later = "CASE WHEN e.start_id > c.packed_event_id THEN e.start_id ELSE c.packed_event_id END"
    earlier = (
        "CASE WHEN e.end_id < COALESCE(c.unpacked_event_id, :open) THEN e.end_id "
        "ELSE COALESCE(c.unpacked_event_id, :open) END"
    )
    # Only fixed fragments are formatted in; every value is a bound parameter.
    sql = f"""
        WITH RECURSIVE enclosure(unit_id, sscc, start_id, end_id) AS (
            SELECT c.unit_id, c.parent_sscc, c.packed_event_id, COALESCE(c.unpacked_event_id, :open)
            FROM containment c JOIN unit u ON u.id = c.unit_id
            WHERE {where}
          UNION ALL
            SELECT e.unit_id, c.parent_sscc, {later}, {earlier}
            FROM enclosure e JOIN containment c ON c.child_sscc = e.sscc
            WHERE c.packed_event_id < e.end_id AND COALESCE(c.unpacked_event_id, :open) > e.start_id
        ),
        moved(unit_id, event_id) AS (
            SELECT i.unit_id, i.event_id FROM event_item i JOIN unit u ON u.id = i.unit_id WHERE {where}
          UNION
            SELECT x.unit_id, i.event_id FROM enclosure x
            JOIN event_item i ON i.container_sscc = x.sscc AND i.event_id > x.start_id AND i.event_id < x.end_id
        )
        SELECT ev.org_id, ev.to_id, COUNT(DISTINCT m.unit_id)
        FROM moved m JOIN event ev ON ev.id = m.event_id
        WHERE ev.action = 'ship' AND ev.undone_by_event_id IS NULL
        GROUP BY ev.org_id, ev.to_id
    """  # noqa: S608
    return [(a, b, n) for a, b, n in conn.execute(text(sql), params)]
