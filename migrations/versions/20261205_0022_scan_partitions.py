"""The scan log partitioned by month on PostgreSQL (SQLite keeps its one table).

The existing table is renamed, a table partitioned by range of ``scanned_at`` takes its name, its columns, its
sequence, its foreign key and its index, and the rows are copied over into month partitions (from the month of
the oldest scan to three months ahead) before the old table is dropped. A primary key on a partitioned table
must contain the partition key: it is ``(id, scanned_at)`` (ids still come from one sequence, so ``id`` stays
unique). ``scan_default`` takes any scan no month partition covers. See app/db/scan_partitions.py.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

AHEAD = 3  # months created ahead here; the service keeps PASSPORT_SCAN_PARTITIONS_AHEAD of them afterwards
COLUMNS = "id, gtin, serial, unit_id, verdict, client, lat, lon, scanned_at, triage"


def _table(name: str, primary_key: str, partitioned: bool) -> str:
    return (
        f"CREATE TABLE {name} ("
        "id BIGINT NOT NULL DEFAULT nextval('scan_id_seq'::regclass), "
        "gtin VARCHAR(14) NOT NULL, serial VARCHAR(20) NOT NULL, unit_id BIGINT, verdict VARCHAR(20) NOT NULL, "
        "client VARCHAR(16) NOT NULL, lat DOUBLE PRECISION, lon DOUBLE PRECISION, "
        "scanned_at TIMESTAMP WITH TIME ZONE NOT NULL, triage VARCHAR(20), "
        f"CONSTRAINT pk_scan PRIMARY KEY ({primary_key}), "
        "CONSTRAINT fk_scan_unit_id_unit FOREIGN KEY (unit_id) REFERENCES unit (id))"
        + (" PARTITION BY RANGE (scanned_at)" if partitioned else "")
    )


def _month(moment: datetime, count: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + count
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _swap_out(old: str) -> None:
    """Rename the current table and its index names out of the way, and free the id sequence from it."""
    op.execute(f"ALTER TABLE scan RENAME TO {old}")
    op.execute(f"ALTER INDEX pk_scan RENAME TO pk_{old}")
    op.execute(f"ALTER INDEX ix_scan_unit_id_scanned_at_client RENAME TO ix_{old}_client")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT fk_scan_unit_id_unit TO fk_{old}_unit")
    op.execute("ALTER SEQUENCE scan_id_seq OWNED BY NONE")


def _swap_in(old: str) -> None:
    op.execute("ALTER SEQUENCE scan_id_seq OWNED BY scan.id")
    op.execute("CREATE INDEX ix_scan_unit_id_scanned_at_client ON scan (unit_id, scanned_at, client)")
    op.execute(f"INSERT INTO scan ({COLUMNS}) SELECT {COLUMNS} FROM {old}")  # noqa: S608 - fixed names
    op.execute(f"DROP TABLE {old}")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _swap_out("scan_unpartitioned")
    op.execute(_table("scan", "id, scanned_at", partitioned=True))
    op.execute("CREATE TABLE scan_default PARTITION OF scan DEFAULT")
    oldest = bind.exec_driver_sql("SELECT min(scanned_at) FROM scan_unpartitioned").scalar()
    now = datetime.now(UTC)
    month = _month(min(oldest, now) if oldest is not None else now, 0)
    last = _month(now, AHEAD)
    while month <= last:
        following = _month(month, 1)
        op.execute(
            f"CREATE TABLE scan_y{month.year:04d}m{month.month:02d} PARTITION OF scan "
            f"FOR VALUES FROM ('{month.isoformat()}') TO ('{following.isoformat()}')"
        )
        month = following
    _swap_in("scan_unpartitioned")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _swap_out("scan_partitioned")
    op.execute(_table("scan", "id", partitioned=False))
    _swap_in("scan_partitioned")  # dropping the partitioned table drops its partitions
