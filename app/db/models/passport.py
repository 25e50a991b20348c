"""Passport tables: passports at three levels, their versions (each a leaf of the log) and uploaded documents.

Versions are never changed or deleted: a PUT adds a row. A version's document is kept as the exact canonical
leaf bytes the log committed to (app/domain/passport_leaf.py), so the log and the table cannot drift apart.
Documents live in the database, so every backup of the database holds them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models.base import NEVER_REUSED_IDS, Base
from app.db.types import BigID, UTCDateTime


class Passport(Base):
    """One passport: of a product, a lot or a unit. ``subject`` is its GS1 Digital Link path (``01/{gtin}``,
    ``01/{gtin}/10/{lot}``, ``01/{gtin}/21/{serial}``); ``version`` is the newest version's number."""

    __tablename__ = "passport"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    level: Mapped[str] = mapped_column(String(10))
    gtin: Mapped[str] = mapped_column(ForeignKey("product.gtin"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"))
    unit_id: Mapped[int | None] = mapped_column(BigID, ForeignKey("unit.id"))
    version: Mapped[int] = mapped_column(Integer)


class PassportVersion(Base):
    __tablename__ = "passport_version"
    __table_args__ = (UniqueConstraint("passport_id", "version"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passport_id: Mapped[int] = mapped_column(ForeignKey("passport.id"))
    version: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    log_index: Mapped[int] = mapped_column(BigInteger, unique=True)
    leaf: Mapped[bytes] = mapped_column(LargeBinary)


class PassportDocumentRef(Base):
    """Which version names which uploaded document in which field (who may download it is decided from these)."""

    __tablename__ = "passport_document_ref"

    version_id: Mapped[int] = mapped_column(ForeignKey("passport_version.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("document.sha256"), primary_key=True, index=True)
    field: Mapped[str] = mapped_column(String(20), primary_key=True)


class Document(Base):
    """An uploaded certificate, report or leaflet, addressed by the SHA-256 of its bytes."""

    __tablename__ = "document"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DocumentUpload(Base):
    """Who uploaded a document (the same bytes may come from several organisations): an uploader may always
    read it back, and only names its own uploads in its passports."""

    __tablename__ = "document_upload"

    sha256: Mapped[str] = mapped_column(ForeignKey("document.sha256"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisation.id"), primary_key=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
