"""Alerts: one open per code and kind."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime
from app.domain.alerts import AlertStatus


class Alert(Base):
    """One open alert per code and kind (see app/db/alerts.py): a repeat counts on it (``count``, ``last_at``)."""

    __tablename__ = "alert"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"), index=True)
    gtin: Mapped[str | None] = mapped_column(String(14), index=True)
    serial: Mapped[str | None] = mapped_column(String(20))
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    details: Mapped[dict[str, object]] = mapped_column(JSON)
    region: Mapped[str | None] = mapped_column(String(10), index=True)
    root_cause: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer, server_default="1")  # occurrences: the first and its repeats
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the latest occurrence


# A literal, not a bound parameter: PostgreSQL matches ON CONFLICT ... WHERE to the partial index by its text.
ALERT_OPEN = Alert.status != literal_column(f"'{AlertStatus.CLOSED.value}'")


Index(
    "uq_alert_type_gtin_serial_open",
    Alert.type,
    Alert.gtin,
    Alert.serial,
    unique=True,
    sqlite_where=ALERT_OPEN,
    postgresql_where=ALERT_OPEN,
)
