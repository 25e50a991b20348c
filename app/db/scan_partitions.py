"""The scan log's monthly partitions on PostgreSQL, and its retention on both databases.

On PostgreSQL ``scan`` is partitioned by range of ``scanned_at``: one partition per calendar month (UTC), named
``scan_yYYYYmMM``, plus ``scan_default`` for a scan no month partition takes (a clock far off, or months the service
did not create ahead): a scan is never refused for want of a partition. The service creates the months ahead at
start and every hour (``passport scans partitions`` does the same by hand); a month created while the default
partition holds rows of it takes those rows over. Pruning drops whole month partitions past the retention (no
row-by-row DELETE, no table bloat) and deletes the default partition's old rows. SQLite keeps one ``scan`` table:
pruning there is a DELETE with the same cut-off, so both databases keep the same scans.

Only the scan log is ever pruned: custody events, the log's leaves and checkpoints, passports and alerts are the
record and are kept (migrations/versions/*_0022_scan_partitions.py made the table; docs/production.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, TextClause, bindparam, text

from app.db.types import UTCDateTime

PARENT = "scan"
DEFAULT_PARTITION = "scan_default"
_MONTH = re.compile(r"^scan_y(\d{4})m(\d{2})$")
# Transaction-level advisory lock (never session-level: PgBouncer's transaction pooling hands a session to
# others) held while partitions are created or dropped, so two API nodes starting together do not race.
_LOCK = "SELECT pg_advisory_xact_lock(16019, 1)"


def is_partition_name(name: str) -> bool:
    """A partition of the scan log (not a table of the models: migrations and their checks skip it)."""
    return name == DEFAULT_PARTITION or _MONTH.match(name) is not None


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, count: int) -> datetime:
    index = month.year * 12 + month.month - 1 + count
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"scan_y{month.year:04d}m{month.month:02d}"


def prune_cutoff(now: datetime, months: int) -> datetime:
    """Scans before this instant are past a retention of ``months``: the current month and ``months`` whole months
    before it are kept (so at least ``months`` months of scans, and at most one month more)."""
    if months < 1:
        raise ValueError("the scan retention is at least one month")
    return add_months(month_start(now), -months)


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": PARENT})
    return kind == "p"


def partitions(conn: Connection) -> list[str]:
    """The scan log's partitions, oldest month first, the default partition last ([] where it is one table)."""
    if not is_partitioned(conn):
        return []
    names = conn.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:name)"
        ),
        {"name": PARENT},
    ).all()
    return sorted(n for n in names if n != DEFAULT_PARTITION) + [n for n in names if n == DEFAULT_PARTITION]


def _month_of(name: str) -> datetime | None:
    found = _MONTH.match(name)
    return datetime(int(found[1]), int(found[2]), 1, tzinfo=UTC) if found else None


def ensure_partitions(conn: Connection, now: datetime, ahead: int) -> list[str]:
    """Create the partitions of the current month and ``ahead`` months after it that are missing; returns the
    names created. Nothing to do on SQLite. Run inside the caller's transaction."""
    if not is_partitioned(conn):
        return []
    first = month_start(now)
    wanted = [add_months(first, i) for i in range(ahead + 1)]
    existing = set(partitions(conn))
    if all(partition_name(m) in existing for m in wanted):
        return []  # the usual case: no lock taken, no DDL
    conn.execute(text(_LOCK))
    existing = set(partitions(conn))  # another node may have made them while this one waited
    created = []
    for month in wanted:
        name = partition_name(month)
        if name not in existing:
            create_month(conn, month)
            created.append(name)
    return created


def create_month(conn: Connection, month: datetime) -> None:
    """Create one month's partition; rows of that month in the default partition move into it (ATTACH refuses
    a range the default partition still holds rows of)."""
    name, low, high = partition_name(month), month.isoformat(), add_months(month, 1).isoformat()
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    # no scan may land in the default partition between the move and the attach (which would then refuse)
    conn.exec_driver_sql(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE scanned_at >= '{low}' AND scanned_at < '{high}' "  # noqa: S608 - our values
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    )
    conn.exec_driver_sql(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')")


@dataclass(frozen=True)
class Pruned:
    cutoff: datetime
    partitions: list[str]  # month partitions dropped (PostgreSQL)
    rows: int  # rows deleted one by one: SQLite's table, PostgreSQL's default partition


def prune(conn: Connection, now: datetime, months: int) -> Pruned:
    """Remove the scans older than the retention: whole month partitions on PostgreSQL, rows on SQLite. Touches
    nothing but the scan log."""
    cutoff = prune_cutoff(now, months)
    if not is_partitioned(conn):
        deleted = conn.execute(_delete_before(PARENT), {"cutoff": cutoff})
        return Pruned(cutoff, [], deleted.rowcount)
    conn.execute(text(_LOCK))
    dropped = []
    for name in partitions(conn):
        month = _month_of(name)
        if month is not None and add_months(month, 1) <= cutoff:
            conn.exec_driver_sql(f"DROP TABLE {name}")
            dropped.append(name)
    deleted = conn.execute(_delete_before(DEFAULT_PARTITION), {"cutoff": cutoff})
    return Pruned(cutoff, dropped, deleted.rowcount)


def _delete_before(table: str) -> TextClause:
    return text(f"DELETE FROM {table} WHERE scanned_at < :cutoff").bindparams(  # noqa: S608 - our names
        bindparam("cutoff", type_=UTCDateTime())
    )


# The keys of unit's custody columns: SQLite keeps them, PostgreSQL checks the same by triggers that fire only when
# a column is set (migration 0025); those of containment and event_item, which PostgreSQL checks by statement-level
# triggers (migration 0027). The models, which describe both databases, declare neither.
SQLITE_ONLY_KEYS = frozenset(
    {
        "fk_unit_holder_id_organisation",
        "fk_unit_to_id_organisation",
        "fk_unit_container_sscc_container",
        "fk_containment_unit_id_unit",
        "fk_containment_child_sscc_container",
        "fk_containment_parent_sscc_container",
        "fk_containment_packed_event_id_event",
        "fk_containment_unpacked_event_id_event",
        "fk_event_item_event_id_event",
        "fk_event_item_unit_id_unit",
        "fk_event_item_container_sscc_container",
    }
)


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's ``include_name`` hook: the scan log's partitions are not tables of the models, nor SQLite's keys
    of unit's custody columns keys of the models (``SQLITE_ONLY_KEYS``)."""
    if type_ == "foreign_key_constraint":
        return name not in SQLITE_ONLY_KEYS
    return not (type_ == "table" and name is not None and is_partition_name(name))
