"""Recall trace queries: aggregates over the units a recall covers, grouped in the database.

Loose units are grouped by their own custody; packed units by their container, whose outermost container holds
the custody (there are few containers). Hops follow shipments of the units themselves and of any container
they were in at the time (a recursive walk of the containment intervals).

Every query reads the lot's units from one index (ix_unit_gtin_batch_id_state_custody) and its containment
intervals from another (ix_containment_batch_id_interval), and touches individual unit rows only for units
whose own custody ever changed (``state`` is not ``issued``): a unit that was only ever moved inside
containers keeps the ``issued`` it was created with, so it can have no sale, return, destruction or loose
shipment of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select, text

from app.db.models import Batch, Event, EventItem, Unit
from app.domain.custody import Status

_OPEN = 2**62
_DEPTH = 32  # container nesting deeper than this is not followed (packing refuses cycles)
# Statuses spelled out so that the index on (gtin, batch_id, state, ...) is searched, not scanned: all of them (a
# tautology), and all but issued (the units whose own custody changed at least once).
ALL_STATES = tuple(s.value for s in Status)
MOVED_ON_THEIR_OWN = tuple(s for s in ALL_STATES if s != Status.ISSUED.value)


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

    def containment_sql(self, alias: str = "c") -> tuple[str, dict[str, Any]]:
        """The containment rows of the units in scope: by the lot copied onto each row, serials through unit."""
        params: dict[str, Any] = {"gtin": self.gtin}
        if not self.batch_ids and not self.serials:
            return f"{alias}.batch_id IN (SELECT b.id FROM batch b WHERE b.gtin = :gtin)", params  # noqa: S608
        parts = []
        if self.batch_ids:
            for i, batch_id in enumerate(self.batch_ids):
                params[f"b{i}"] = batch_id
            parts.append(f"{alias}.batch_id IN ({', '.join(f':b{i}' for i in range(len(self.batch_ids)))})")
        if self.serials:
            for i, serial in enumerate(self.serials):
                params[f"s{i}"] = serial
            marks = ", ".join(f":s{i}" for i in range(len(self.serials)))
            subquery = f"SELECT s.id FROM unit s WHERE s.gtin = :gtin AND s.serial IN ({marks})"  # noqa: S608
            parts.append(f"{alias}.unit_id IN ({subquery})")
        return f"({' OR '.join(parts)})", params


def batch_ids(conn: Connection, gtin: str, lots: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(select(Batch.lot, Batch.id).where(Batch.gtin == gtin, Batch.lot.in_(lots))).all()
    return {lot: batch_id for lot, batch_id in rows}


def custody_counts(conn: Connection, scope: Scope) -> dict[tuple[str, str | None, str | None], int]:
    """Units by (internal status, holder, in transit to), containers resolved to their outermost one.

    One statement over one index: loose units by their custody (a short range per status), packed units by
    their container (one row per container), then each container walked up to its outermost one."""
    where, params = scope.sql("u")
    params["depth"] = _DEPTH
    params.update({f"a{i}": s for i, s in enumerate(ALL_STATES)})
    every = ", ".join(f":a{i}" for i in range(len(ALL_STATES)))  # a tautology that lets the index be searched
    sql = f"""
        WITH RECURSIVE packed(sscc, n) AS (
            SELECT u.container_sscc, COUNT(*) FROM unit u
            WHERE {where} AND u.state IN ({every}) AND u.container_sscc IS NOT NULL
            GROUP BY u.state, u.container_sscc
        ),
        up(sscc, n, depth) AS (
            SELECT sscc, n, 0 FROM packed
          UNION ALL
            SELECT c.parent_sscc, up.n, up.depth + 1 FROM up JOIN container c ON c.sscc = up.sscc
            WHERE c.parent_sscc IS NOT NULL AND up.depth < :depth
        )
        SELECT u.state, u.holder_id, u.to_id, COUNT(*) FROM unit u
        WHERE {where} AND u.state IN ({every}) AND u.container_sscc IS NULL
        GROUP BY u.state, u.holder_id, u.to_id
        UNION ALL
        SELECT c.state, c.holder_id, c.to_id, SUM(up.n) FROM up JOIN container c ON c.sscc = up.sscc
        WHERE c.parent_sscc IS NULL GROUP BY c.state, c.holder_id, c.to_id
    """  # noqa: S608
    counts: dict[tuple[str, str | None, str | None], int] = {}
    for state, holder, to, n in conn.execute(text(sql), params):
        counts[(state, holder, to)] = counts.get((state, holder, to), 0) + int(n)
    return counts


def _moved(scope: Scope) -> ColumnElement[bool]:
    return and_(scope.condition(), Unit.state.in_(MOVED_ON_THEIR_OWN))


def sales(conn: Connection, scope: Scope) -> list[tuple[str, str | None, str | None, int]]:
    """(action, channel, platform, units) of standing sales and dispensings of units in scope."""
    rows = conn.execute(
        select(Event.action, Event.channel, Event.platform_id, func.count(func.distinct(EventItem.unit_id)))
        .select_from(Unit)
        .join(EventItem, EventItem.unit_id == Unit.id)
        .join(Event, Event.id == EventItem.event_id)
        .where(_moved(scope), Event.action.in_(("sell", "dispense")), Event.undone_by_event_id.is_(None))
        .group_by(Event.action, Event.channel, Event.platform_id)
    )
    return [(a, c, p, n) for a, c, p, n in rows]


def recovery(conn: Connection, scope: Scope, since: datetime) -> dict[str, int]:
    """Units returned, destroyed or recycled since the recall (recovery progress)."""
    rows = conn.execute(
        select(Event.action, func.count(func.distinct(EventItem.unit_id)))
        .select_from(Unit)
        .join(EventItem, EventItem.unit_id == Unit.id)
        .join(Event, Event.id == EventItem.event_id)
        .where(_moved(scope), Event.action.in_(("return", "destroy", "recycle")), Event.recorded_at >= since)
        .group_by(Event.action)
    )
    return dict(rows.all())


def hops(conn: Connection, scope: Scope) -> list[tuple[str, str, int]]:
    """(from, to, units) of every shipment that moved units in scope, directly or inside containers.

    Units inside containers are counted per containment interval (the lot's units that went into one container
    at one event and came out at one event: about one interval per container), read from an index; the walk up
    the nesting and the shipments are then per interval. A unit is counted once per interval on each leg, and
    once more if it also travelled that leg loose (only a unit sent back and forth can)."""
    where, params = scope.sql("u")
    cwhere, cparams = scope.containment_sql("c")
    params.update(cparams)
    params["open"] = _OPEN
    moved = ", ".join(f":m{i}" for i in range(len(MOVED_ON_THEIR_OWN)))
    params.update({f"m{i}": s for i, s in enumerate(MOVED_ON_THEIR_OWN)})
    later = "CASE WHEN e.start_id > c.packed_event_id THEN e.start_id ELSE c.packed_event_id END"
    earlier = (
        "CASE WHEN e.end_id < COALESCE(c.unpacked_event_id, :open) THEN e.end_id "
        "ELSE COALESCE(c.unpacked_event_id, :open) END"
    )
    # Only fixed fragments are formatted in; every value is a bound parameter.
    sql = f"""
        WITH RECURSIVE intervals(sscc, start_id, end_id, n) AS (
            SELECT c.parent_sscc, c.packed_event_id, COALESCE(c.unpacked_event_id, :open), COUNT(*)
            FROM containment c WHERE {cwhere}
            GROUP BY c.parent_sscc, c.packed_event_id, c.unpacked_event_id
        ),
        enclosure(gsscc, gstart, gend, n, sscc, start_id, end_id) AS (
            SELECT sscc, start_id, end_id, n, sscc, start_id, end_id FROM intervals
          UNION ALL
            SELECT e.gsscc, e.gstart, e.gend, e.n, c.parent_sscc, {later}, {earlier}
            FROM enclosure e JOIN containment c ON c.child_sscc = e.sscc
            WHERE c.child_sscc IS NOT NULL
              AND c.packed_event_id < e.end_id AND COALESCE(c.unpacked_event_id, :open) > e.start_id
        ),
        legs(gsscc, gstart, gend, n, org_id, to_id) AS (
            SELECT DISTINCT x.gsscc, x.gstart, x.gend, x.n, ev.org_id, ev.to_id
            FROM enclosure x
            JOIN event_item i ON i.container_sscc = x.sscc AND i.event_id > x.start_id AND i.event_id < x.end_id
            JOIN event ev ON ev.id = i.event_id
            WHERE ev.action = 'ship' AND ev.undone_by_event_id IS NULL
        ),
        loose(org_id, to_id, n) AS (
            SELECT ev.org_id, ev.to_id, COUNT(DISTINCT i.unit_id)
            FROM unit u JOIN event_item i ON i.unit_id = u.id JOIN event ev ON ev.id = i.event_id
            WHERE {where} AND u.state IN ({moved}) AND ev.action = 'ship' AND ev.undone_by_event_id IS NULL
            GROUP BY ev.org_id, ev.to_id
        )
        SELECT org_id, to_id, SUM(n) FROM (
            SELECT org_id, to_id, n FROM legs UNION ALL SELECT org_id, to_id, n FROM loose
        ) AS t
        GROUP BY org_id, to_id
    """  # noqa: S608
    return [(a, b, int(n)) for a, b, n in conn.execute(text(sql), params)]
