"""The scan log's bulk insert, below the ORM: a second's scans in one statement (COPY on PostgreSQL).

Through SQLAlchemy's executemany a scan cost ~90 us on PostgreSQL (one INSERT per row, half of it in the server)
and ~14 us of per-row parameter processing on SQLite; the writer's bursts compete with the serving processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from app.db.bulk import copy_rows
from app.db.models import Scan

SCAN_COLUMNS = ("gtin", "serial", "unit_id", "verdict", "client", "lat", "lon", "scanned_at", "triage")
ScanRow = tuple[str, str, int | None, str, str, float | None, float | None, datetime, str | None]
_AT = SCAN_COLUMNS.index("scanned_at")


def insert_scans(conn: Connection, rows: Sequence[ScanRow]) -> None:
    """Insert scan rows (values in ``SCAN_COLUMNS`` order, ``scanned_at`` an aware UTC datetime)."""
    if conn.dialect.name != "sqlite":
        copy_rows(conn, "scan", SCAN_COLUMNS, rows)
        return
    # SQLite stores the time as the ORM would: the column type's own conversion, applied once per row.
    stored = Scan.__table__.c.scanned_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    assert stored is not None
    copy_rows(conn, "scan", SCAN_COLUMNS, [(*row[:_AT], stored(row[_AT]), *row[_AT + 1 :]) for row in rows])
