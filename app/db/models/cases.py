"""Suspect-product case tables: the case, what it covers, its changes (each a leaf of the log) and its notices.

``case_subject`` is what verification reads: one row per lot or unit a case names, with ``active`` kept in step
with the case's status, so "is this unit under investigation?" is two indexed EXISTS on the hot path.
A change keeps the exact canonical leaf bytes the log committed to (app/domain/cases.py), as passport versions do.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime


class SuspectCase(Base):
    __tablename__ = "suspect_case"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"), index=True)
    lots: Mapped[list[str]] = mapped_column(JSON)
    serials: Mapped[list[str]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(2000))
    opened_by: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    incident_number: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CaseSubject(Base):
    """A lot (``batch_id``) or a unit (``unit_id``) a case names; ``active`` while the case is (ACTIVE)."""

    __tablename__ = "case_subject"
    __table_args__ = (
        Index("ix_case_subject_batch_id_active", "batch_id", "active"),
        Index("ix_case_subject_unit_id_active", "unit_id", "active"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("suspect_case.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"))
    unit_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("unit.id"))
    active: Mapped[bool] = mapped_column(Boolean)


class CaseChange(Base):
    __tablename__ = "case_change"
    __table_args__ = (UniqueConstraint("case_id", "seq"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("suspect_case.id"))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    readers: Mapped[list[str]] = mapped_column(JSON)  # who reads the leaf whole besides auditors


class CaseNotice(Base):
    """One organisation told of one change (and the webhook delivery pushing it, when it has an endpoint)."""

    __tablename__ = "case_notice"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("case_change.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    units: Mapped[int] = mapped_column(Integer)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivery_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("webhook_delivery.id"))
