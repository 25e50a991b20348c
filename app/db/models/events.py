"""Custody events (append-only), what each touched, and the prescriptions they used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime


class Event(Base):
    """One accepted custody event, as its organisation sent it (append-only)."""

    __tablename__ = "event"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    region: Mapped[str | None] = mapped_column(String(10))
    to_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    container_sscc: Mapped[str | None] = mapped_column(String(18))
    channel: Mapped[str | None] = mapped_column(String(10))
    platform_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    order_ref: Mapped[str | None] = mapped_column(String(100))
    prescription_id: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    undoes_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    undone_by_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)


class EventItem(Base):
    """What one event touched directly: a unit or a container, with its custody before and after."""

    __tablename__ = "event_item"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # event_id names an event, unit_id a unit, container_sscc a container: on SQLite by foreign keys, on PostgreSQL
    # by statement-level triggers, each distinct value a statement writes checked once (migration 0027). Not
    # declared here (app/db/scan_partitions.SQLITE_ONLY_KEYS).
    event_id: Mapped[int] = mapped_column(BigID, index=True)
    unit_id: Mapped[int | None] = mapped_column(BigID, index=True)
    container_sscc: Mapped[str | None] = mapped_column(String(18))
    before: Mapped[dict[str, object]] = mapped_column(JSON)
    after: Mapped[dict[str, object]] = mapped_column(JSON)


# A unit's item leaves container_sscc NULL: on PostgreSQL no entry for it (migration 0028).
Index("ix_event_item_container_sscc", EventItem.container_sscc, postgresql_where=EventItem.container_sscc.is_not(None))


class Prescription(Base):
    """A prescription is used once across the whole system."""

    __tablename__ = "prescription"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    prescriber: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
