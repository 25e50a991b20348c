"""The log's witnesses (PASSPORT_WITNESSES): how each stands, and the cosignatures they returned on checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base
from app.db.types import UTCDateTime


class LogWitness(Base):
    """A witness the checkpoints are submitted to, named by its verifier key (its URL may change)."""

    __tablename__ = "log_witness"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    verifier_key: Mapped[str] = mapped_column(String(300), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The size the witness last cosigned, as far as its answers told (0: none yet); the next submission's old size.
    cosigned_size: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))  # domain.witness.WitnessStatus
    last_error: Mapped[str | None] = mapped_column(String(2000))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_cosigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LogCosignature(Base):
    """A witness's tlog-cosignature line on one checkpoint, served in that checkpoint's note."""

    __tablename__ = "log_cosignature"
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("log_checkpoint.id"))
    witness_id: Mapped[int] = mapped_column(ForeignKey("log_witness.id"), index=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # the witness's POSIX time in the cosignature
    line: Mapped[str] = mapped_column(String(400))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
