"""Recall trace queries: where a recall's units are, what was sold, recovered and shipped where.

Listed lots (every lot of the GTIN for a whole-product recall) are read from the per-lot counters
(app/db/lot_counters.py): a few rows per holder, hop or sales channel, however many units the lot has. Listed
serials outside those lots are read unit by unit, which the list bounds: their custody (packed units through
their outermost container), their standing sales, and the shipments and recoveries that moved them, loose or
inside containers (a walk of their containment intervals), counted as the counters count them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Integer, String, bindparam, column, func, select, text

from app.db import lot_counters
from app.db.models import Batch, Container, Event, EventItem, Unit
from app.db.types import UTCDateTime

_OPEN = 2**62
_DEPTH = 32  # container nesting deeper than this is not followed (packing refuses cycles)
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Scope:
    gtin: str
    batch_ids: Sequence[int]  # lots counted from the counters
    serials: Sequence[str]  # listed serials, counted unit by unit when their lot is not in batch_ids


def batch_ids(conn: Connection, gtin: str, lots: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(select(Batch.lot, Batch.id).where(Batch.gtin == gtin, Batch.lot.in_(lots))).all()
    return {lot: batch_id for lot, batch_id in rows}


def scope_of(conn: Connection, gtin: str, lots: Sequence[str], serials: Sequence[str]) -> Scope:
    """A recall's scope: nothing listed covers every lot of the GTIN."""
    if not lots and not serials:
        every = conn.execute(select(Batch.id).where(Batch.gtin == gtin).order_by(Batch.id)).scalars()
        return Scope(gtin, [int(b) for b in every], [])
    return Scope(gtin, sorted(batch_ids(conn, gtin, lots).values()), sorted(set(serials)))


def _serial_units(conn: Connection, scope: Scope) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(scope.serials), _CHUNK):
        query = select(Unit.id).where(Unit.gtin == scope.gtin, Unit.serial.in_(scope.serials[start : start + _CHUNK]))
        if scope.batch_ids:
            query = query.where(Unit.batch_id.not_in(scope.batch_ids))
        ids.extend(int(i) for i in conn.execute(query).scalars())
    return sorted(ids)


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def custody_counts(conn: Connection, scope: Scope) -> dict[tuple[str, str | None, str | None], int]:
    """Units by (internal status, holder, in transit to); a holder of None is the product's manufacturer."""
    counts: dict[tuple[str, str | None, str | None], int] = {}

    def add(key: tuple[str, str | None, str | None], n: int) -> None:
        counts[key] = counts.get(key, 0) + n

    if scope.batch_ids:
        for state, holder, to, n in lot_counters.custody(conn, list(scope.batch_ids)):
            add((state, holder, to), n)
    packed: dict[str, int] = {}
    for chunk in _chunks(_serial_units(conn, scope)):
        for state, holder, to, sscc in conn.execute(
            select(Unit.state, Unit.holder_id, Unit.to_id, Unit.container_sscc).where(Unit.id.in_(chunk))
        ):
            if sscc is None:
                add((state, holder, to), 1)
            else:
                packed[sscc] = packed.get(sscc, 0) + 1
    for key, n in _outermost(conn, packed).items():
        add(key, n)
    return counts


def _outermost(conn: Connection, packed: dict[str, int]) -> dict[tuple[str, str | None, str | None], int]:
    """Units counted per container, carried up to each one's outermost container: by that one's custody."""
    found: dict[tuple[str, str | None, str | None], int] = {}
    level = dict(packed)
    for _ in range(_DEPTH + 1):
        if not level:
            break
        rows = conn.execute(
            select(Container.sscc, Container.parent_sscc, Container.state, Container.holder_id, Container.to_id).where(
                Container.sscc.in_(sorted(level))
            )
        ).all()
        upper: dict[str, int] = {}
        for sscc, parent, state, holder, to in rows:
            n = level[sscc]
            if parent is None:
                found[(state, holder, to)] = found.get((state, holder, to), 0) + n
            else:
                upper[parent] = upper.get(parent, 0) + n
        level = upper
    return found


def sales(conn: Connection, scope: Scope) -> list[tuple[str, str | None, str | None, int]]:
    """(action, channel, platform, units) of standing sales and dispensings of units in scope."""
    counts: dict[tuple[str, str | None, str | None], int] = {}
    found = lot_counters.sales(conn, list(scope.batch_ids)) if scope.batch_ids else []
    for chunk in _chunks(_serial_units(conn, scope)):
        found += conn.execute(
            select(Event.action, Event.channel, Event.platform_id, func.count(func.distinct(EventItem.unit_id)))
            .join(Event, Event.id == EventItem.event_id)
            .where(
                EventItem.unit_id.in_(chunk),
                Event.action.in_(("sell", "dispense")),
                Event.undone_by_event_id.is_(None),
            )
            .group_by(Event.action, Event.channel, Event.platform_id)
        ).all()
    for action, channel, platform, n in found:
        counts[(action, channel, platform)] = counts.get((action, channel, platform), 0) + int(n)
    return [(a, c, p, n) for (a, c, p), n in counts.items()]


def recovery(
    conn: Connection, scope: Scope, since: datetime, baseline: dict[str, dict[str, int]] | None
) -> dict[str, int]:
    """Units returned, destroyed or recycled since the recall: the lots' counters less what they were when each
    lot came under the recall (``baseline``), and the listed serials' own events since ``since``."""
    counts: dict[str, int] = {}
    if scope.batch_ids:
        for batch_id, actions in lot_counters.recovery(conn, list(scope.batch_ids)).items():
            before = (baseline or {}).get(str(batch_id), {})
            for action, n in actions.items():
                counts[action] = counts.get(action, 0) + n - before.get(action, 0)
    for chunk in _chunks(_serial_units(conn, scope)):
        for action, _, _, n in _moves(conn, chunk, lot_counters.RECOVERY_ACTIONS, since):
            counts[action] = counts.get(action, 0) + n
    return {action: n for action, n in counts.items() if n}


def hops(conn: Connection, scope: Scope) -> list[tuple[str, str, int]]:
    """(from, to, units) of the shipments of units in scope, loose or inside containers (once per shipment)."""
    counts: dict[tuple[str, str], int] = {}
    found = lot_counters.hops(conn, list(scope.batch_ids)) if scope.batch_ids else []
    for chunk in _chunks(_serial_units(conn, scope)):
        found += [(f, t, n) for _, f, t, n in _moves(conn, chunk, ("ship",), None)]
    for from_id, to_id, n in found:
        counts[(from_id, to_id)] = counts.get((from_id, to_id), 0) + n
    return [(f, t, n) for (f, t), n in counts.items()]


# The events that moved these units, on their own or inside a container the event named: each unit's containment
# intervals walked up the nesting to the container around it at the time (a unit still in the package an import
# put it in has no row: its container since 0, app.db.custody.in_import_package). Fixed text; values are bound.
_MOVES = (
    text(
        """
    WITH RECURSIVE intervals(sscc, start_id, end_id, n) AS (
        SELECT c.parent_sscc, c.packed_event_id, COALESCE(c.unpacked_event_id, :open), COUNT(*)
        FROM containment c WHERE c.unit_id IN :ids
        GROUP BY c.parent_sscc, c.packed_event_id, c.unpacked_event_id
      UNION ALL
        SELECT u.container_sscc, 0, :open, COUNT(*) FROM unit u
        WHERE u.id IN :ids AND u.container_sscc IS NOT NULL AND NOT EXISTS
            (SELECT 1 FROM containment o WHERE o.unit_id = u.id AND o.unpacked_event_id IS NULL)
        GROUP BY u.container_sscc
    ),
    enclosure(n, gsscc, gstart, gend, sscc, start_id, end_id, depth) AS (
        SELECT n, sscc, start_id, end_id, sscc, start_id, end_id, 0 FROM intervals
      UNION ALL
        SELECT e.n, e.gsscc, e.gstart, e.gend, c.parent_sscc,
               CASE WHEN c.packed_event_id > e.start_id THEN c.packed_event_id ELSE e.start_id END,
               CASE WHEN COALESCE(c.unpacked_event_id, :open) < e.end_id
                    THEN COALESCE(c.unpacked_event_id, :open) ELSE e.end_id END,
               e.depth + 1
        FROM enclosure e JOIN containment c ON c.child_sscc = e.sscc
        WHERE c.packed_event_id < e.end_id AND COALESCE(c.unpacked_event_id, :open) > e.start_id
          AND e.depth < :depth
    ),
    moved(event_id, n) AS (
        SELECT event_id, n FROM (
            SELECT DISTINCT x.gsscc, x.gstart, x.gend, x.n, i.event_id
            FROM enclosure x
            JOIN event_item i ON i.container_sscc = x.sscc AND i.event_id > x.start_id AND i.event_id < x.end_id
        ) AS t
      UNION ALL
        SELECT i.event_id, 1 FROM event_item i WHERE i.unit_id IN :ids
    )
    SELECT ev.action, ev.org_id, COALESCE(ev.to_id, '') AS to_id, SUM(m.n) AS units, MIN(ev.recorded_at) AS at
    FROM moved m JOIN event ev ON ev.id = m.event_id
    WHERE ev.action IN :actions
    GROUP BY ev.id, ev.action, ev.org_id, ev.to_id
    """
    )
    .bindparams(bindparam("ids", expanding=True), bindparam("actions", expanding=True))
    .columns(
        column("action", String()),
        column("org_id", String()),
        column("to_id", String()),
        column("units", Integer()),
        column("at", UTCDateTime()),
    )
)


def _moves(
    conn: Connection, unit_ids: list[int], actions: Sequence[str], since: datetime | None
) -> list[tuple[str, str, str, int]]:
    """(action, org, to, units) of each event of these actions that moved some of the units, since ``since``."""
    rows = conn.execute(_MOVES, {"ids": unit_ids, "actions": list(actions), "open": _OPEN, "depth": _DEPTH}).all()
    return [(action, org_id, to_id, int(n)) for action, org_id, to_id, n, at in rows if since is None or at >= since]
