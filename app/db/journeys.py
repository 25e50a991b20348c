"""A touched unit's consumer journey and container-aware state, in one statement below the ORM.

The same answer as ``app.db.history.unit_events`` (the events that named the unit, and those that moved a
container while the unit was inside it, containers followed through their nested containment intervals) and
``outermost_container``, in the unit lookup's own statement: a sold pack's scan reads it with no session, no
thread and no SQL compiled per scan. Profile of a sold-pack scan before it: the six SQLAlchemy statements of the
history and the worker-thread hop were ~3/4 of the scan's CPU (docs/benchmarks.md).

Rows, in order: at most one ``(0, state, None, None, None)``, the state of the outermost container around the
unit (none: the unit is loose, or its nesting is deeper than ``MAX_NESTING`` — the caller then reads it the slow
way, which says so); then ``(1, action, channel, occurred_at, region)`` for each event of its history that was
neither undone nor an undo, ordered as the history is (by when it happened, then by id). On both databases
the unit lookup itself carries them, as a JSON array in its last column (``journey_column``: PostgreSQL's
``LOOKUP_WITH_JOURNEY_MANY_SQL``, SQLite's ``LOOKUP_WITH_JOURNEY_SQL``), so a sold pack's scan is one statement
like a fresh code's; on SQLite a unit never in a container gets a simpler subquery there (the events that named
it). tests/api/test_journey_fast_path.py checks the column against the full computation over random journeys.
"""

from __future__ import annotations

import json
from operator import itemgetter
from typing import Any

from app.db.units import LOOKUP_MANY_SQL, lookup_sql

MAX_NESTING = 32  # as app.db.history.outermost_container
_OPEN = 2**62  # an interval still open (app.db.history)


def _column() -> str:
    """PostgreSQL: the rows above as one JSON array for the unit ``u`` of the enclosing query (NULL for an
    untouched unit, or one with no rows), times as "YYYY-MM-DD HH:MM:SS.ffffff" UTC text. A correlated
    subquery, so the unit lookup answers the journey in the same statement: as a statement of its own, grouped
    over many unit ids, PostgreSQL planned the recursive part badly (~2 ms a unit against ~60 us here)."""
    hi = f"COALESCE(c.unpacked_event_id, {_OPEN})"
    lo = "GREATEST(iv.lo, c.packed_event_id)"
    top = f"LEAST(iv.hi, {hi})"
    return (
        "CASE WHEN u.state = 'issued' AND u.holder_id IS NULL AND u.container_sscc IS NULL THEN NULL ELSE ("  # noqa: S608
        "WITH RECURSIVE iv(sscc, lo, hi) AS ("
        f"SELECT c.parent_sscc::text, c.packed_event_id::bigint, {hi}::bigint FROM containment c "
        f"WHERE c.unit_id = u.id AND c.packed_event_id < {hi} "
        f"UNION ALL SELECT u.container_sscc::text, 0::bigint, {_OPEN}::bigint WHERE u.container_sscc IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM containment o WHERE o.unit_id = u.id AND o.unpacked_event_id IS NULL) "
        f"UNION ALL SELECT c.parent_sscc::text, {lo}::bigint, {top}::bigint "
        f"FROM iv JOIN containment c ON c.child_sscc = iv.sscc WHERE {lo} < {top}), "
        "up(parent, state, depth) AS ("
        "SELECT c.parent_sscc::text, c.state::text, 1 FROM container c WHERE c.sscc = u.container_sscc "
        "UNION ALL SELECT c.parent_sscc::text, c.state::text, up.depth + 1 "
        f"FROM up JOIN container c ON c.sscc = up.parent WHERE up.depth < {MAX_NESTING}) "
        "SELECT json_agg(json_build_array(t.kind, t.action, t.channel, t.at, t.region) "
        "ORDER BY t.kind, t.occurred_at, t.id) FROM ("
        "SELECT 0 AS kind, up.state AS action, NULL::text AS channel, NULL::text AS at, "
        "NULL::timestamptz AS occurred_at, NULL::text AS region, 0::bigint AS id FROM up WHERE up.parent IS NULL "
        "UNION ALL SELECT 1, e.action, e.channel, to_char(e.occurred_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD HH24:MI:SS.US'), e.occurred_at, e.region, e.id FROM event e "
        "WHERE e.id IN (SELECT ei.event_id FROM event_item ei WHERE ei.unit_id = u.id "
        "UNION SELECT ei.event_id FROM iv JOIN event_item ei ON ei.container_sscc = iv.sscc "
        "AND ei.event_id > iv.lo AND ei.event_id < iv.hi) "
        "AND e.undone_by_event_id IS NULL AND e.undoes_event_id IS NULL) t) END"
    )


# The consumer's journey as SQLite's lookup carries it: NULL for an untouched unit (a fresh code pays nothing
# more); the events that named a unit never in a container (most sold packs: no recursive part to plan or run);
# the full statement's rows for any other. A JSON array of [kind, action, channel, at, region, event id], times as
# SQLite stores them ("YYYY-MM-DD HH:MM:SS.ffffff" UTC text), in no particular order: SQLite before 3.44 has no
# ORDER BY inside an aggregate, so ``sqlite_journey`` sorts the decoded rows (in C: ~1 us for a sold pack's five,
# where an ordered subquery cost SQLite ~3 us more).
_SQLITE_HI = f"COALESCE(c.unpacked_event_id, {_OPEN})"
_SQLITE_LO = "MAX(iv.lo, c.packed_event_id)"
_SQLITE_TOP = f"MIN(iv.hi, {_SQLITE_HI})"
_STANDING = "e.undone_by_event_id IS NULL AND e.undoes_event_id IS NULL"
SQLITE_JOURNEY_COLUMN = (
    "CASE WHEN u.state = 'issued' AND u.holder_id IS NULL AND u.container_sscc IS NULL THEN NULL "  # noqa: S608
    "WHEN u.container_sscc IS NULL AND NOT EXISTS (SELECT 1 FROM containment c WHERE c.unit_id = u.id) THEN ("
    "SELECT json_group_array(json_array(1, e.action, e.channel, e.occurred_at, e.region, e.id)) FROM event e "
    f"WHERE e.id IN (SELECT ei.event_id FROM event_item ei WHERE ei.unit_id = u.id) AND {_STANDING}) "
    "ELSE ("
    "WITH RECURSIVE iv(sscc, lo, hi) AS ("
    f"SELECT c.parent_sscc, c.packed_event_id, {_SQLITE_HI} FROM containment c "
    f"WHERE c.unit_id = u.id AND c.packed_event_id < {_SQLITE_HI} "
    f"UNION ALL SELECT u.container_sscc, 0, {_OPEN} WHERE u.container_sscc IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM containment o WHERE o.unit_id = u.id AND o.unpacked_event_id IS NULL) "
    f"UNION ALL SELECT c.parent_sscc, {_SQLITE_LO}, {_SQLITE_TOP} "
    f"FROM iv JOIN containment c ON c.child_sscc = iv.sscc WHERE {_SQLITE_LO} < {_SQLITE_TOP}), "
    "up(parent, state, depth) AS ("
    "SELECT c.parent_sscc, c.state, 1 FROM container c WHERE c.sscc = u.container_sscc "
    "UNION ALL SELECT c.parent_sscc, c.state, up.depth + 1 "
    f"FROM up JOIN container c ON c.sscc = up.parent WHERE up.depth < {MAX_NESTING}) "
    "SELECT json_group_array(json_array(t.kind, t.action, t.channel, t.occurred_at, t.region, t.id)) FROM ("
    "SELECT 0 AS kind, up.state AS action, NULL AS channel, NULL AS occurred_at, NULL AS region, 0 AS id "
    "FROM up WHERE up.parent IS NULL "
    "UNION ALL SELECT 1, e.action, e.channel, e.occurred_at, e.region, e.id FROM event e "
    "WHERE e.id IN (SELECT ei.event_id FROM event_item ei WHERE ei.unit_id = u.id "
    "UNION SELECT ei.event_id FROM iv JOIN event_item ei ON ei.container_sscc = iv.sscc "
    f"AND ei.event_id > iv.lo AND ei.event_id < iv.hi) AND {_STANDING}) t) END"
)
# SQLite: the one-code unit lookup (app.db.units.lookup_sql) with the journey as its last column (JSON text).
LOOKUP_WITH_JOURNEY_SQL = lookup_sql("sqlite").replace(" FROM unit u ", f", {SQLITE_JOURNEY_COLUMN} FROM unit u ", 1)
assert LOOKUP_WITH_JOURNEY_SQL != lookup_sql("sqlite"), "the lookup's FROM changed: the journey column went missing"
_ORDER = itemgetter(0, 3, 5)  # kind (the container state first), when, event id: the history's order


def sqlite_journey(column: str | None) -> list[list[Any]]:
    """The rows of SQLite's journey column (JSON text, or NULL for an untouched unit), in the history's order."""
    if column is None:
        return []
    rows: list[list[Any]] = json.loads(column)
    rows.sort(key=_ORDER)
    return rows


JOURNEY_COLUMN = _column()
# PostgreSQL: the grouped unit lookup (app.db.units.LOOKUP_MANY_SQL) with the journey as its last column.
LOOKUP_WITH_JOURNEY_MANY_SQL = LOOKUP_MANY_SQL.replace(" FROM unnest(", f", {JOURNEY_COLUMN} FROM unnest(", 1)
assert LOOKUP_WITH_JOURNEY_MANY_SQL != LOOKUP_MANY_SQL, "the lookup's FROM changed: the journey column went missing"
