"""Serialised units, containers (SSCC) and when one was inside another."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import Base
from app.db.types import BigID, UTCDateTime


class Unit(Base):
    """One serialised unit. Narrow on purpose: a batch of a million is a million of these rows."""

    __tablename__ = "unit"
    __table_args__ = (
        UniqueConstraint("gtin", "serial"),
        # One key for both columns (migration 0024): the unit's issuance, and that this issuance is of the unit's
        # batch (through the issuance's own key, the batch exists). PostgreSQL checks a key per row it inserts,
        # so two keys cost issuance twice the checks of one.
        ForeignKeyConstraint(["issuance_id", "batch_id"], ["issuance.id", "issuance.batch_id"]),
        Index("ix_unit_issuance_id_id", "issuance_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    gtin: Mapped[str] = mapped_column(String(14))
    serial: Mapped[str] = mapped_column(String(20))
    batch_id: Mapped[int] = mapped_column(Integer)  # the issuance's batch: see the key (issuance_id, batch_id)
    issuance_id: Mapped[int] = mapped_column(Integer)
    # Custody of a loose unit (see app/domain/custody.py). Inside a container, the outermost container's
    # record applies and these columns are only brought up to date when the unit is taken out.
    state: Mapped[str] = mapped_column(String(20), server_default="issued")
    # holder_id and to_id name organisations, container_sscc a container: on SQLite by foreign keys, on PostgreSQL by
    # triggers that fire only when a value is set (migration 0025; an UPDATE checked once per statement, 0026):
    # PostgreSQL ran a key's trigger for every issued unit, all three NULL. Not declared here
    # (app/db/scan_partitions.SQLITE_ONLY_KEYS).
    holder_id: Mapped[str | None] = mapped_column(String(32))  # None: the manufacturer
    to_id: Mapped[str | None] = mapped_column(String(32))
    previous: Mapped[str | None] = mapped_column(String(20))
    container_sscc: Mapped[str | None] = mapped_column(String(18))


# Units by lot and custody. On PostgreSQL only the units custody has touched (migration 0025): a unit as issued is
# not in it, so issuance writes no entry. Queries that use it name a state other than issued or a holder, which
# implies the predicate; a lot's untouched units are read through its issuances (ix_unit_issuance_id_id).
# SQLite keeps every unit: its planner would use a partial index with this predicate for no query.
Index(
    "ix_unit_gtin_batch_id_state_custody",
    Unit.gtin,
    Unit.batch_id,
    Unit.state,
    Unit.container_sscc,
    Unit.holder_id,
    Unit.to_id,
    postgresql_where=text(
        "state <> 'issued' OR holder_id IS NOT NULL OR to_id IS NOT NULL OR container_sscc IS NOT NULL"
    ),
)

# Most units are never packed: a partial index keeps issuance from writing a million NULL entries.
Index(
    "ix_unit_container_sscc",
    Unit.container_sscc,
    sqlite_where=Unit.container_sscc.is_not(None),
    postgresql_where=Unit.container_sscc.is_not(None),
)


class Container(Base):
    """A case or pallet (SSCC). Shipping it moves everything inside with one row write."""

    __tablename__ = "container"

    sscc: Mapped[str] = mapped_column(String(18), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    holder_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    to_id: Mapped[str | None] = mapped_column(ForeignKey("organisation.id"))
    previous: Mapped[str | None] = mapped_column(String(20))
    parent_sscc: Mapped[str | None] = mapped_column(ForeignKey("container.sscc"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The printed code of a package an import registered (a 20-digit code, or a GS1 element string
    # "(01){gtin}(21){serial}"), whose key ``sscc`` is a one-way digest of it; None for an SSCC, its own code.
    code: Mapped[str | None] = mapped_column(String(48))


class Containment(Base):
    """When a unit or a container was inside another container (for histories that stay O(containers))."""

    __tablename__ = "containment"

    id: Mapped[int] = mapped_column(BigID, primary_key=True)
    # unit_id names a unit, child_sscc and parent_sscc containers, the two event ids events: on SQLite by foreign
    # keys, on PostgreSQL by statement-level triggers, each distinct value a statement writes checked once
    # (migration 0027). Not declared here (app/db/scan_partitions.SQLITE_ONLY_KEYS).
    unit_id: Mapped[int | None] = mapped_column(BigID, index=True)
    child_sscc: Mapped[str | None] = mapped_column(String(18))
    parent_sscc: Mapped[str] = mapped_column(String(18), index=True)
    packed_event_id: Mapped[int] = mapped_column(BigID)
    unpacked_event_id: Mapped[int | None] = mapped_column(BigID)
    # The unit's lot, copied so that a recall trace reads a lot's intervals from one index (None: a container).
    batch_id: Mapped[int | None] = mapped_column(Integer)


# A unit's containment row leaves child_sscc NULL: on PostgreSQL no entry for it (migration 0028).
Index("ix_containment_child_sscc", Containment.child_sscc, postgresql_where=Containment.child_sscc.is_not(None))

Index(
    "ix_containment_batch_id_interval",
    Containment.batch_id,
    Containment.parent_sscc,
    Containment.packed_event_id,
    Containment.unpacked_event_id,
)
