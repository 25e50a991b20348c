"""Per-lot custody counters, changed in the transaction of every custody change, read by recall traces.

An event collects its changes in a ``Tally`` (units of each lot moved between custody records, into and out of
containers, shipped, sold, recovered) and writes them once it is in the log: one upsert per table, rows in key
order. By then the event holds the log's size row, which every event takes (PostgreSQL; SQLite serialises all
writers), so two events never wait on each other's counter rows in opposite orders.

Custody keys are (status, holder, to) with the holder resolved (a unit never moved is its manufacturer's) and
'' for no addressee. Moving a container moves ``container_lot``'s counts of its subtree: O(lots in it).

Issuance writes no counter: a lot's units start as ``issued`` at its manufacturer, and the issuance rows already
say how many (``issuance.count``), so ``custody`` adds them to the (issued, manufacturer) count, which events only
ever take from (or give back to, on undo). An issuance streaming a million codes, or units commissioned through
EPCIS, thus never hold a counter row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from app.db.models import (
    Batch,
    ContainerLot,
    Event,
    EventItem,
    Issuance,
    LotCustody,
    LotHop,
    LotRecovery,
    LotSale,
    Product,
)

NONE = ""  # stands for "no one" in counter keys, which are NOT NULL
RECOVERY_ACTIONS = ("return", "destroy", "recycle")
_CHUNK = 500

CustodyKey = tuple[str, str, str]  # (status, holder, to)


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

    def flush(self, conn: Connection) -> None:
        _upsert(conn, LotCustody.__table__, ("batch_id", "state", "holder_id", "to_id"), self.custody)  # type: ignore[arg-type]
        _upsert(conn, ContainerLot.__table__, ("sscc", "batch_id"), self.contents)  # type: ignore[arg-type]
        _upsert(conn, LotHop.__table__, ("batch_id", "from_id", "to_id"), self.hops)  # type: ignore[arg-type]
        _upsert(conn, LotSale.__table__, ("batch_id", "action", "channel", "platform_id"), self.sales)  # type: ignore[arg-type]
        _upsert(conn, LotRecovery.__table__, ("batch_id", "action"), self.recovery)  # type: ignore[arg-type]
        if self.emptied:
            conn.execute(
                delete(ContainerLot).where(ContainerLot.sscc.in_(sorted(self.emptied)), ContainerLot.units == 0)
            )
        self.clear()


def _upsert(conn: Connection, table: Table, keys: tuple[str, ...], deltas: Mapping[tuple[Any, ...], int]) -> None:
    """Add the deltas to the rows (created at the delta when missing), in key order, in one statement."""
    rows = [dict(zip(keys, key, strict=True), units=n) for key, n in sorted(deltas.items()) if n]
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(rows)
    conn.execute(
        statement.on_conflict_do_update(index_elements=keys, set_={"units": table.c.units + statement.excluded.units})
    )


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
    rows = conn.execute(
        select(LotCustody.state, LotCustody.holder_id, LotCustody.to_id, func.sum(LotCustody.units))
        .where(LotCustody.batch_id.in_(batch_ids))
        .group_by(LotCustody.state, LotCustody.holder_id, LotCustody.to_id)
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
    rows = conn.execute(
        select(LotSale.action, LotSale.channel, LotSale.platform_id, func.sum(LotSale.units))
        .where(LotSale.batch_id.in_(batch_ids))
        .group_by(LotSale.action, LotSale.channel, LotSale.platform_id)
    )
    return [(a, c or None, p or None, int(n)) for a, c, p, n in rows if n]


def hops(conn: Connection, batch_ids: list[int]) -> list[tuple[str, str, int]]:
    rows = conn.execute(
        select(LotHop.from_id, LotHop.to_id, func.sum(LotHop.units))
        .where(LotHop.batch_id.in_(batch_ids))
        .group_by(LotHop.from_id, LotHop.to_id)
    )
    return [(f, t, int(n)) for f, t, n in rows if n]


def recovery(conn: Connection, batch_ids: list[int]) -> dict[int, dict[str, int]]:
    """Units of each lot ever returned, destroyed or recycled, by action."""
    found: dict[int, dict[str, int]] = {}
    rows = conn.execute(
        select(LotRecovery.batch_id, LotRecovery.action, LotRecovery.units).where(LotRecovery.batch_id.in_(batch_ids))
    )
    for batch_id, action, n in rows:
        found.setdefault(int(batch_id), {})[action] = int(n)
    return found
