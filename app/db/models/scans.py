"""Verification scans, kept for early warning."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base
from app.db.types import BigID, UTCDateTime


class Scan(Base):
    """A verification scan, kept for early warning (clones, unknown codes). Recorded in batches, off the hot path.

    On PostgreSQL the table is partitioned by month of ``scanned_at`` and its primary key is ``(id, scanned_at)``
    (a partitioned table's key must hold the partition key); ``id`` alone is still unique, from one sequence.
    Partitions and retention: app/db/scan_partitions.py (migration 0022)."""

    __tablename__ = "scan"
    # The client is in the index so the flush counts a unit's distinct clients without reading the table.
    __table_args__ = (Index("ix_scan_unit_id_scanned_at_client", "unit_id", "scanned_at", "client"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    verdict: Mapped[str] = mapped_column(String(20))
    client: Mapped[str] = mapped_column(String(16))  # keyed hash of the client address, not the address
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    triage: Mapped[str | None] = mapped_column(String(20))
