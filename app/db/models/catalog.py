"""Products, their lots (batches), code-signing keys and the issuances of codes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime
from app.domain.orgs import CATEGORIES


class SigningKey(Base):
    """Ed25519 code-signing keys. The private half is sealed (AES-GCM) under the master key, never clear."""

    __tablename__ = "signing_key"

    key_tag: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (CheckConstraint(f"category IN {CATEGORIES!r}", name="category"),)

    gtin: Mapped[str] = mapped_column(String(14), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    manufacturer_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), index=True)
    description: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The 7-digit 药品标识码 that begins the product's 20-digit drug traceability codes (app/domain/cn_code.py).
    cn_drug_id: Mapped[str | None] = mapped_column(String(7), unique=True)


class Batch(Base):
    __tablename__ = "batch"
    __table_args__ = (
        UniqueConstraint("gtin", "lot"),
        CheckConstraint("expires_on > manufactured_on", name="dates"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"))
    lot: Mapped[str] = mapped_column(String(20))
    manufactured_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Issuance(Base):
    """One request for codes: which batch, which key signed them, how many."""

    __tablename__ = "issuance"
    # (id, batch_id) is unique because id is: the target of the units' key (issuance_id, batch_id).
    __table_args__ = (UniqueConstraint("id", "batch_id"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    # None: units serialised elsewhere and commissioned here through EPCIS (their codes carry no signature).
    key_tag: Mapped[int | None] = mapped_column(ForeignKey("signing_key.key_tag"))
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # An import of codes (app/services/code_import.py): its logged ``pack`` event, from which the units it put in
    # packages are inside them (their containment rows are written only when they leave; see the migration 0019).
    event_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("event.id"))
