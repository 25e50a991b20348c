"""Insurance settlements of units (NHSA)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base
from app.db.types import BigID, UTCDateTime


class Settlement(Base):
    """One insurance settlement of a unit (NHSA): a whole pack is part 0; a split pack's parts are 1, 2, ..."""

    __tablename__ = "settlement"
    __table_args__ = (UniqueConstraint("unit_id", "part"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    part: Mapped[int] = mapped_column(Integer)
    scheme: Mapped[str] = mapped_column(String(20))
    ref: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    region: Mapped[str | None] = mapped_column(String(10))
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime())
