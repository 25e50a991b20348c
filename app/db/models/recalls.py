"""Recalls and the notices sent to the organisations holding recalled units."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime


class Recall(Base):
    """A recall of a product, some of its lots or listed serials. Irreversible: it can grow or be completed."""

    __tablename__ = "recall"
    __table_args__ = (CheckConstraint("recall_class IN ('I', 'II', 'III')", name="class"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"), index=True)
    lots: Mapped[list[str]] = mapped_column(JSON)  # empty with no serials: every unit of the GTIN
    serials: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(String(1000))
    recall_class: Mapped[str] = mapped_column(String(3))
    instructions: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), server_default="open")
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # lot_recovery as it stood when each lot came under the recall: {"<batch id>": {"<action>": units}}
    recovery_baseline: Mapped[dict[str, dict[str, int]] | None] = mapped_column(JSON)


class RecallNotice(Base):
    """That an organisation holding (or about to receive) recalled units was told, and when it acknowledged."""

    __tablename__ = "recall_notice"
    __table_args__ = (UniqueConstraint("recall_id", "org_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recall.id"))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    units: Mapped[int] = mapped_column(Integer)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_delivery.id"))  # None: no endpoint


class RecallOrder(Base):
    """An online order with units a recall covers, relayed to its platform (``app/services/recall_relay.py``), and
    when the platform acknowledged it. An order that gains units (a recall extended) is relayed again and waits for
    a new acknowledgement."""

    __tablename__ = "recall_order"
    __table_args__ = (UniqueConstraint("recall_id", "platform_id", "order_ref"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recall.id"))
    platform_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    order_ref: Mapped[str] = mapped_column(String(100))
    seller_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    sold_at: Mapped[datetime] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())  # first relayed
    relayed_at: Mapped[datetime] = mapped_column(UTCDateTime())  # last relayed (with units new then)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_delivery.id"))  # the last; None: no endpoint


class RecallOrderUnit(Base):
    """A unit of a relayed order: relayed once per recall (an extension relays only units not relayed before)."""

    __tablename__ = "recall_order_unit"
    __table_args__ = (UniqueConstraint("recall_id", "unit_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    recall_id: Mapped[int] = mapped_column(ForeignKey("recall.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("recall_order.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
