"""Per-lot custody counters, changed in the transaction of every custody change, read by recall traces.

An event collects its changes in a ``Tally`` (units of each lot moved between custody records, into and out of
containers, shipped, sold, recovered) and writes them once, after its leaf: on SQLite (one writer at a time) one
upsert per table, rows in key order. On PostgreSQL the lot-level tables (custody, hops, sales, recovery) would be
the next hot row, every event on a lot updating the same few rows and holding them until it commits: there the
event inserts its changes as ``lot_delta`` rows instead, and the log's sequencer, which runs right after the
event commits, adds all committed deltas to their rows in one batch, in key order, under its own lock, and
deletes them (``merge_deltas``). The readers here add the deltas not merged yet, so a count is exact at any
moment; a reader elsewhere that only asks whether a row exists (passports, cases) sees it once merged, before the
event's request has answered. Units per container (``container_lot``) are upserted directly on both databases:
a container's rows are written by the event that moves the container, which holds the container's row anyway.

Custody keys are (status, holder, to) with the holder resolved (a unit never moved is its manufacturer's) and
'' for no addressee. Moving a container moves ``container_lot``'s counts of its subtree: O(lots in it).

Issuance writes no counter: a lot's units start as ``issued`` at its manufacturer, and the issuance rows already
say how many (``issuance.count``), so ``custody`` adds them to the (issued, manufacturer) count, which events only
ever take from (or give back to, on undo). An issuance streaming a million codes, or units commissioned through
EPCIS, thus never hold a counter row.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, Table, delete, func, select, union_all

from app.db.custody import WriteBatch
from app.db.models import (
    Batch,
    ContainerLot,
    Event,
    EventItem,
    Issuance,
    LotCustody,
    LotDelta,
    LotHop,
    LotRecovery,
    LotSale,
    Product,
)

NONE = ""  # stands for "no one" in counter keys, which are NOT NULL
RECOVERY_ACTIONS = ("return", "destroy", "recycle")
_CHUNK = 500

CustodyKey = tuple[str, str, str]  # (status, holder, to)

# lot_delta.kind -> the counter table and its key columns (batch_id first; a, b, c the others, '' past the end)
KINDS: dict[int, tuple[Table, tuple[str, ...]]] = {
    1: (LotCustody.__table__, ("batch_id", "state", "holder_id", "to_id")),  # type: ignore[dict-item]
    2: (LotHop.__table__, ("batch_id", "from_id", "to_id")),  # type: ignore[dict-item]
    3: (LotSale.__table__, ("batch_id", "action", "channel", "platform_id")),  # type: ignore[dict-item]
    4: (LotRecovery.__table__, ("batch_id", "action")),  # type: ignore[dict-item]
}
CUSTODY, HOPS, SALES, RECOVERY = 1, 2, 3, 4
_TAKE_DELTAS = "DELETE FROM lot_delta RETURNING id, kind, batch_id, a, b, c, units"
_ADD_DELTAS = (
    "INSERT INTO lot_delta (kind, batch_id, a, b, c, units) "
    "SELECT * FROM unnest(%s::smallint[], %s::int[], %s::text[], %s::text[], %s::text[], %s::int[])"
)


@dataclass
class Tally:
    """The counter changes of one event, written by ``flush`` (or dropped by ``clear`` if it is refused)."""

    custody: dict[tuple[int, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    contents: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    hops: dict[tuple[int, str, str], int] = field(default_factory=lambda: defaultdict(int))
    sales: dict[tuple[int, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    recovery: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    emptied: set[str] = field(default_factory=set)

    def clear(self) -> None:
        for counts in (self.custody, self.contents, self.hops, self.sales, self.recovery):
            counts.clear()
        self.emptied.clear()

    def move(self, lots: Mapping[int, int], before: CustodyKey, after: CustodyKey) -> None:
        if before == after:
            return
        for batch_id, n in lots.items():
            self.custody[(batch_id, *before)] -= n
            self.custody[(batch_id, *after)] += n

    def pack(self, ssccs: Iterable[str], lots: Mapping[int, int], sign: int) -> None:
        """The lots go into (sign 1) or out of (sign -1) each of these containers' subtrees."""
        for sscc in ssccs:
            for batch_id, n in lots.items():
                self.contents[(sscc, batch_id)] += sign * n

    def empty(self, sscc: str, lots: Mapping[int, int]) -> None:
        """Everything in the container came out (unpacked): its rows go once the counts are written."""
        self.pack([sscc], lots, -1)
        self.emptied.add(sscc)

    def pending(self, sscc: str) -> dict[int, int]:
        return {b: n for (s, b), n in self.contents.items() if s == sscc and n}

    def ship(self, lots: Mapping[int, int], from_id: str, to_id: str) -> None:
        for batch_id, n in lots.items():
            self.hops[(batch_id, from_id, to_id)] += n

    def sale(self, batch_id: int, action: str, channel: str | None, platform: str | None, n: int) -> None:
        self.sales[(batch_id, action, channel or NONE, platform or NONE)] += n

    def recover(self, lots: Mapping[int, int], action: str) -> None:
        for batch_id, n in lots.items():
            self.recovery[(batch_id, action)] += n

    def flush(self, conn: Connection, batch: WriteBatch | None) -> None:
        """Write the counted changes: on PostgreSQL the lot-level ones as deltas, added to ``batch`` (the event's
        other writes, sent with them; always given there), on SQLite into the counter rows; a container's lots into
        its rows."""
        lot_level = {CUSTODY: self.custody, HOPS: self.hops, SALES: self.sales, RECOVERY: self.recovery}
        if conn.dialect.name == "postgresql":
            rows = [
                (kind, key[0], *(*key[1:], "", "", "")[:3], n)
                for kind, deltas in lot_level.items()
                for key, n in sorted(deltas.items())
                if n
            ]
            if rows:  # one statement, the rows as six arrays (an executemany is a pipeline of one per row)
                assert batch is not None, "PostgreSQL's deltas are sent with the event's writes"
                kinds, batches, a, b, c, units = zip(*rows, strict=True)
                batch.add(_ADD_DELTAS, (list(kinds), list(batches), list(a), list(b), list(c), list(units)))
        else:
            for kind, deltas in lot_level.items():
                table, keys = KINDS[kind]
                _upsert(conn, table, keys, deltas)
        _upsert(conn, ContainerLot.__table__, ("sscc", "batch_id"), self.contents)  # type: ignore[arg-type]
        if self.emptied:
            conn.execute(
                delete(ContainerLot).where(ContainerLot.sscc.in_(sorted(self.emptied)), ContainerLot.units == 0)
            )
        self.clear()


def _upsert(conn: Connection, table: Table, keys: tuple[str, ...], deltas: Mapping[tuple[Any, ...], int]) -> None:
    """Add the deltas to the rows (created at the delta when missing), in key order, in one executemany of plain
    driver SQL (once per event: no statement to compile)."""
    rows = [(*key, n) for key, n in sorted(deltas.items()) if n]
    if rows:
        conn.exec_driver_sql(_upsert_sql(table.name, keys, conn.dialect.name), rows)


@functools.cache
def _upsert_sql(table: str, keys: tuple[str, ...], dialect: str) -> str:
    mark = "%s" if dialect == "postgresql" else "?"
    columns = ", ".join((*keys, "units"))
    # the table and its key columns are this module's constants (KINDS, ContainerLot's), never input
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({', '.join([mark] * (len(keys) + 1))}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET units = {table}.units + excluded.units"
    )


def merge_deltas(conn: Connection) -> int:
    """Add every delta this transaction sees (committed ones) to its counter row, one upsert per table in key
    order, and delete them; how many there were. The log's sequencer calls it holding its lock (a
    transaction-level advisory lock on PostgreSQL), so one merge runs at a time and no event ever waits on a lot's
    counter row (app/services/log.py)."""
    if conn.dialect.name == "postgresql":  # one round trip: the rows this statement deletes are those it sees
        rows = conn.exec_driver_sql(_TAKE_DELTAS).all()
        _merge(conn, rows)
        return len(rows)
    rows = conn.execute(
        select(LotDelta.id, LotDelta.kind, LotDelta.batch_id, LotDelta.a, LotDelta.b, LotDelta.c, LotDelta.units)
    ).all()
    if not rows:
        return 0
    _merge(conn, rows)
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), 10_000):
        conn.execute(delete(LotDelta).where(LotDelta.id.in_(ids[start : start + 10_000])))
    return len(rows)


@functools.cache
def merging_ctes() -> str:
    """PostgreSQL: what ``merge_deltas`` does, as common table expressions for the log's one integrating statement
    (app/db/log.py): take every delta the statement sees, add their sums per key to the rows, in key order (a key
    whose deltas cancel out writes nothing). Built from ``KINDS``, this module's constants, never from input."""
    parts = ["taken_deltas AS (DELETE FROM lot_delta RETURNING kind, batch_id, a, b, c, units)"]
    for kind, (table, keys) in sorted(KINDS.items()):
        source = ", ".join(("batch_id", *"abc"[: len(keys) - 1]))
        columns = ", ".join(keys)
        parts.append(
            f"merged_{kind} AS (INSERT INTO {table.name} ({columns}, units) "  # noqa: S608
            f"SELECT {source}, sum(units) FROM taken_deltas WHERE kind = {kind} GROUP BY {source} "
            f"HAVING sum(units) <> 0 ORDER BY {source} "
            f"ON CONFLICT ({columns}) DO UPDATE SET units = {table.name}.units + excluded.units)"
        )
    return ",\n".join(parts)


def _merge(conn: Connection, rows: Sequence[Row[Any]]) -> None:
    if not rows:
        return
    sums: dict[int, dict[tuple[Any, ...], int]] = {kind: defaultdict(int) for kind in KINDS}
    for _id, kind, batch_id, a, b, c, n in rows:
        width = len(KINDS[kind][1]) - 1
        sums[kind][(batch_id, *(a, b, c)[:width])] += n
    for kind, deltas in sums.items():
        table, keys = KINDS[kind]
        _upsert(conn, table, keys, deltas)


def _with_deltas(kind: int, batch_ids: list[int], columns: tuple[str, ...]) -> Any:
    """The counter rows of the lots with the deltas not merged yet, as one subquery of ``columns`` and units."""
    table, keys = KINDS[kind]
    stored = select(*(table.c[name] for name in columns), table.c.units).where(table.c.batch_id.in_(batch_ids))
    delta_columns = {
        name: (LotDelta.batch_id if name == "batch_id" else getattr(LotDelta, "abc"[keys.index(name) - 1]))
        for name in columns
    }
    pending = select(*(delta_columns[name].label(name) for name in columns), LotDelta.units.label("units")).where(
        LotDelta.kind == kind, LotDelta.batch_id.in_(batch_ids)
    )
    return union_all(stored, pending).subquery()


def container_lots(conn: Connection, sscc: str) -> dict[int, int]:
    """Units of each lot in the container's subtree (as written so far)."""
    rows = conn.execute(
        select(ContainerLot.batch_id, ContainerLot.units).where(ContainerLot.sscc == sscc, ContainerLot.units != 0)
    )
    return {int(b): int(n) for b, n in rows}


def with_standing_sale(
    conn: Connection,
    unit_ids: Iterable[int],
    *,
    action: str,
    channel: str | None,
    platform: str | None,
    other_than: int,
) -> set[int]:
    """Those of the units with a sale of this kind (action, channel, platform) standing, other than one event."""
    ids = sorted(set(unit_ids))
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(EventItem.unit_id)
            .join(Event, Event.id == EventItem.event_id)
            .where(
                EventItem.unit_id.in_(ids[start : start + _CHUNK]),
                Event.id != other_than,
                Event.action == action,
                Event.channel.is_(None) if channel is None else Event.channel == channel,
                Event.platform_id.is_(None) if platform is None else Event.platform_id == platform,
                Event.undone_by_event_id.is_(None),
            )
        )
        found.update(int(u) for u in conn.execute(query).scalars())
    return found


# --------------------------------------------------------------------------------------------------- reading


def custody(conn: Connection, batch_ids: list[int]) -> list[tuple[str, str, str | None, int]]:
    """(status, holder, to or None, units) of the lots, with the units of their issuances at the manufacturer."""
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    q = _with_deltas(CUSTODY, batch_ids, ("state", "holder_id", "to_id"))
    rows = conn.execute(
        select(q.c.state, q.c.holder_id, q.c.to_id, func.sum(q.c.units)).group_by(q.c.state, q.c.holder_id, q.c.to_id)
    )
    for state, holder, to, n in rows:
        counts[(state, holder, to)] += int(n)
    issued = conn.execute(
        select(Product.manufacturer_id, func.sum(Issuance.count))
        .join(Batch, Batch.id == Issuance.batch_id)
        .join(Product, Product.gtin == Batch.gtin)
        .where(Issuance.batch_id.in_(batch_ids))
        .group_by(Product.manufacturer_id)
    )
    for manufacturer_id, n in issued:
        counts[("issued", manufacturer_id, NONE)] += int(n)
    return [(s, h, t or None, n) for (s, h, t), n in counts.items() if n]


def sales(conn: Connection, batch_ids: list[int]) -> list[tuple[str, str | None, str | None, int]]:
    """(action, channel, platform, units) of the standing sales and dispensings of the lots."""
    q = _with_deltas(SALES, batch_ids, ("action", "channel", "platform_id"))
    rows = conn.execute(
        select(q.c.action, q.c.channel, q.c.platform_id, func.sum(q.c.units)).group_by(
            q.c.action, q.c.channel, q.c.platform_id
        )
    )
    return [(a, c or None, p or None, int(n)) for a, c, p, n in rows if n]


def hops(conn: Connection, batch_ids: list[int]) -> list[tuple[str, str, int]]:
    q = _with_deltas(HOPS, batch_ids, ("from_id", "to_id"))
    rows = conn.execute(select(q.c.from_id, q.c.to_id, func.sum(q.c.units)).group_by(q.c.from_id, q.c.to_id))
    return [(f, t, int(n)) for f, t, n in rows if n]


def recovery(conn: Connection, batch_ids: list[int]) -> dict[int, dict[str, int]]:
    """Units of each lot ever returned, destroyed or recycled, by action."""
    found: dict[int, dict[str, int]] = {}
    q = _with_deltas(RECOVERY, batch_ids, ("batch_id", "action"))
    rows = conn.execute(select(q.c.batch_id, q.c.action, func.sum(q.c.units)).group_by(q.c.batch_id, q.c.action))
    for batch_id, action, n in rows:
        found.setdefault(int(batch_id), {})[action] = int(n)
    return found
