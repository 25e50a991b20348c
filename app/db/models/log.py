"""The Merkle log: subtree hashes, its size, its signing key and the checkpoints it signed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base
from app.db.types import UTCDateTime


class LogNode(Base):
    """Hashes of the complete subtrees of the Merkle log: leaves [index * 2**level, (index + 1) * 2**level)."""

    __tablename__ = "log_node"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), unique=True)  # leaves only


class LogPending(Base):
    """A leaf committed with its event but not yet given an index (PostgreSQL: see app/services/log.py). The
    sequencer moves pending leaves into ``log_node`` in batches, in ``id`` order, and deletes them."""

    __tablename__ = "log_pending"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), unique=True)


class LogState(Base):
    """One row: the size of the log. Locked by the sequencer (and by each append on SQLite, which serialises
    writers anyway), which keeps leaf indices dense and unique."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger)


class LogKey(Base):
    """The Ed25519 key that signs checkpoints (sealed like the code-signing keys)."""

    __tablename__ = "log_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LogCheckpoint(Base):
    """Every checkpoint the service signed, kept so an auditor can ask for consistency between any two."""

    __tablename__ = "log_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(2000))
