"""The per-lot custody counters a recall trace reads instead of units (app/db/lot_counters.py)."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base


class LotCustody(Base):
    """Units of a lot by effective custody (packed units count under their outermost container's record),
    kept in step with every custody change so that a recall trace reads holders, not units. Keys are NOT NULL
    ('' for no addressee: a NULL never meets the unique key an upsert needs); the holder is always resolved.
    The units issuances made are not in it: they start as issued at the manufacturer and are read from
    ``issuance.count``, so this holds only what events changed (the issued count goes below zero)."""

    __tablename__ = "lot_custody"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    holder_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    to_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class ContainerLot(Base):
    """Units of a lot anywhere inside a container (its whole subtree): moving a container moves these."""

    __tablename__ = "container_lot"

    sscc: Mapped[str] = mapped_column(ForeignKey("container.sscc"), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotHop(Base):
    """Units of a lot shipped from one organisation to another, loose or inside containers (one per shipment)."""

    __tablename__ = "lot_hop"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    from_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    to_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotSale(Base):
    """Units of a lot with a standing (not undone) sale or dispensing, by action, channel and platform ('')."""

    __tablename__ = "lot_sale"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotRecovery(Base):
    """Units of a lot returned, destroyed or recycled, ever (a recall subtracts what it found when it began)."""

    __tablename__ = "lot_recovery"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(20), primary_key=True)
    units: Mapped[int] = mapped_column(Integer)


class LotDelta(Base):
    """A change to one lot-level counter row (custody, hops, sales, recovery), written by an event on PostgreSQL
    instead of updating the row, so that concurrent events on one lot do not queue behind it. The log's sequencer
    adds the deltas to their rows in batches and deletes them (app/db/lot_counters.py ``merge_deltas``); readers
    of the counters in app/db/lot_counters.py add the ones not merged yet. ``kind`` names the table (``KINDS``
    there); ``a``, ``b``, ``c`` are its key columns after ``batch_id`` ('' when it has fewer)."""

    __tablename__ = "lot_delta"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    batch_id: Mapped[int] = mapped_column(Integer)
    a: Mapped[str] = mapped_column(String(32))
    b: Mapped[str] = mapped_column(String(32))
    c: Mapped[str] = mapped_column(String(32))
    units: Mapped[int] = mapped_column(Integer)
