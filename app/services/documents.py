"""Uploaded documents, content-addressed by SHA-256 and kept in the database (so every backup holds them).

A document is read back by whoever uploaded it, by regulators (any document a passport version ever named), and by
anyone who may see a field naming it in a passport as it stands now: the same tier rule as the scan answers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.models import Batch, Document, DocumentUpload, Passport, PassportDocumentRef, PassportVersion, Unit
from app.domain.documents import media_type_of
from app.domain.errors import NotFound, PayloadTooLarge
from app.domain.orgs import READS_EVERYTHING, Role
from app.domain.passport import Tier, documents_named
from app.services.orgs import Principal
from app.services.passports import reader_tier, visible_passport


def _insert_ignoring_duplicates(
    session: Session, model: type[Document] | type[DocumentUpload], **values: object
) -> None:
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


def upload(
    session: Session,
    principal: Principal,
    data: bytes,
    *,
    claimed: str | None,
    max_bytes: int,
    base_url: str,
    now: datetime,
) -> dict[str, object]:
    """Store the bytes (once, whoever sends them again) and record who uploaded them."""
    principal.require_role(Role.MANUFACTURER)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"documents are limited to {max_bytes} bytes", code="payload_too_large")
    media_type = media_type_of(data, claimed)
    sha = hashlib.sha256(data).hexdigest()
    _insert_ignoring_duplicates(
        session, Document, sha256=sha, media_type=media_type, size=len(data), content=data, created_at=now
    )
    _insert_ignoring_duplicates(session, DocumentUpload, sha256=sha, org_id=principal.org_id, uploaded_at=now)
    return {
        "sha256": sha,
        "url": f"{base_url.rstrip('/')}/v1/documents/{sha}",
        "media_type": media_type,
        "size": len(data),
    }


@dataclass(frozen=True, slots=True)
class Download:
    sha256: str
    media_type: str
    content: bytes


def _may_read(session: Session, reader: Principal | None, sha: str, today: date) -> bool:
    if reader is not None:
        uploaded = session.scalar(
            select(DocumentUpload.org_id).where(DocumentUpload.sha256 == sha, DocumentUpload.org_id == reader.org_id)
        )
        if uploaded is not None:
            return True
        if reader.role in READS_EVERYTHING:
            return (
                session.scalar(select(PassportDocumentRef.version_id).where(PassportDocumentRef.sha256 == sha).limit(1))
                is not None
            )
    current = session.execute(
        select(PassportVersion.leaf, Passport.unit_id)
        .join(PassportDocumentRef, PassportDocumentRef.version_id == PassportVersion.id)
        .join(Passport, (Passport.id == PassportVersion.passport_id) & (Passport.version == PassportVersion.version))
        .where(PassportDocumentRef.sha256 == sha)
    ).all()
    tiers: dict[str, Tier] = {}
    for leaf, unit_id in current:
        named = json.loads(bytes(leaf))
        gtin, lot, serial = named["gtin"], named["lot"], named["serial"]
        if unit_id is not None:  # a unit's passport adds to its lot's: read it as its scan shows it
            lot = session.scalar(select(Batch.lot).join(Unit, Unit.batch_id == Batch.id).where(Unit.id == unit_id))
        if gtin not in tiers:
            tiers[gtin] = reader_tier(session, reader, gtin)
        shown = visible_passport(session, gtin, lot, serial, reader, today=today, tier=tiers[gtin]) or {}
        if any(named_sha == sha for _, named_sha in documents_named(shown)):
            return True
    return False


def download(session: Session, reader: Principal | None, sha: str, *, today: date) -> Download:
    """The bytes, for a reader who may see them; anyone else is told there is no such document (404)."""
    sha = sha.lower()
    row = session.get(Document, sha) if len(sha) == 64 else None
    if row is None or not _may_read(session, reader, sha, today):
        raise NotFound(f"no document {sha} that you may read", code="document_not_found")
    return Download(sha, row.media_type, bytes(row.content))
