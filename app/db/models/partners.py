"""Verifications between trading partners (app/domain/partner_verification.py): every request and the signed answer.

Rows are never changed or deleted: a kept answer is the requester's evidence and the manufacturer's record of who
asked about its packs. ``held`` says whether the requester ever held the unit (or units of its lot): the count of
requests about units it never held, per requester and hour, is the oracle guard.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime


class PartnerVerification(Base):
    __tablename__ = "partner_verification"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    manufacturer_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    gtin: Mapped[str | None] = mapped_column(String(14))
    serial: Mapped[str | None] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    context: Mapped[str] = mapped_column(String(40))
    correlation_uuid: Mapped[str] = mapped_column(String(36))
    verified: Mapped[bool] = mapped_column(Boolean)
    held: Mapped[bool] = mapped_column(Boolean)
    request: Mapped[dict[str, object]] = mapped_column(JSON)
    answer: Mapped[dict[str, object]] = mapped_column(JSON)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())


Index("ix_partner_verification_gtin_requested_at", PartnerVerification.gtin, PartnerVerification.requested_at)


Index(
    "ix_partner_verification_requester_id_held_requested_at",
    PartnerVerification.requester_id,
    PartnerVerification.held,
    PartnerVerification.requested_at,
)


Index("ix_partner_verification_unit_id_requester_id", PartnerVerification.unit_id, PartnerVerification.requester_id)


# One answer, one row (migration 0029): who asked, when, and the correlation UUID it carries (the UUID alone is the
# requester's, echoed as sent, and may come again in a later request; app/db/partner_rows.ANSWER_KEY). Every insert
# is ON CONFLICT DO NOTHING on it, so a group written again after a lost commit stores nothing twice.
Index(
    "uq_partner_verification_answer",
    PartnerVerification.requester_id,
    PartnerVerification.requested_at,
    PartnerVerification.correlation_uuid,
    unique=True,
)
