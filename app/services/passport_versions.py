"""Writing and reading passport versions: every PUT adds a version, a leaf of the log; none is changed or deleted.

A version is validated against passport_schema/product-passport.schema.json (errors name the field, e.g.
``$.certifications[0].valid_until``), may only name documents its writer uploaded, and is written with its leaf
in the request's one transaction: a refusal leaves nothing behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.models import Batch, DocumentUpload, Passport, PassportDocumentRef, PassportVersion, Product, Unit
from app.domain import json_input
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.domain.identifiers import validate_gtin
from app.domain.merkle import leaf_hash
from app.domain.orgs import READS_EVERYTHING, Role
from app.domain.passport import Level, documents_named, lapsing, with_status
from app.domain.passport_leaf import PassportLeaf, canonical, passport_leaf_bytes
from app.services import log
from app.services.orgs import Principal
from app.services.passports import subject_of

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "passport_schema" / "product-passport.schema.json"
MAX_PAGE = 100
MAX_ERRORS = 20


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _path(error: ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_document(document: Any) -> dict[str, Any]:
    """The document, or ``InvalidInput`` whose detail names the first wrong field (all of them in ``errors``)."""
    if json_input.nesting(document) > json_input.MAX_DEPTH:
        raise json_input.too_deep()
    errors = sorted(_validator().iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        listed = [{"field": _path(e), "message": e.message[:300]} for e in errors[:MAX_ERRORS]]
        first = listed[0]
        raise InvalidInput(f"{first['field']}: {first['message']}", code="invalid_passport", errors=listed)
    assert isinstance(document, dict)
    return document


@dataclass(frozen=True, slots=True)
class Subject:
    level: Level
    product: Product
    lot: str | None = None
    serial: str | None = None
    batch_id: int | None = None
    unit_id: int | None = None

    @property
    def key(self) -> str:
        return subject_of(self.product.gtin, self.lot, self.serial)


def _product(session: Session, gtin: str) -> Product:
    validate_gtin(gtin)
    product = session.get(Product, gtin)
    if product is None:
        raise NotFound(f"no product with GTIN {gtin}", code="product_not_found")
    return product


def product_subject(session: Session, gtin: str) -> Subject:
    return Subject(Level.PRODUCT, _product(session, gtin))


def batch_subject(session: Session, batch_id: int) -> Subject:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}", code="batch_not_found")
    return Subject(Level.LOT, _product(session, batch.gtin), lot=batch.lot, batch_id=batch.id)


def unit_subject(session: Session, gtin: str, serial: str) -> Subject:
    product = _product(session, gtin)
    unit_id = session.scalar(select(Unit.id).where(Unit.gtin == gtin, Unit.serial == serial))
    if unit_id is None:
        raise NotFound(f"no unit {gtin}/{serial}", code="unit_not_found")
    return Subject(Level.UNIT, product, serial=serial, unit_id=unit_id)


def _require_maker(principal: Principal, subject: Subject) -> None:
    principal.require_role(Role.MANUFACTURER)
    if subject.product.manufacturer_id != principal.org_id:
        raise Forbidden(
            f"only the manufacturer of GTIN {subject.product.gtin} writes its passports", code="not_your_product"
        )


def _require_reader(principal: Principal, subject: Subject) -> None:
    """Versions whole (every tier) and their history: the product's manufacturer and regulators."""
    if principal.role not in READS_EVERYTHING and subject.product.manufacturer_id != principal.org_id:
        raise Forbidden(
            "a passport's versions are read by its manufacturer and regulators; scan the code for what you may see",
            code="not_your_product",
        )


def _check_documents(session: Session, principal: Principal, document: dict[str, Any]) -> list[tuple[str, str]]:
    named = documents_named(document)
    wanted = {sha for _, sha in named}
    if not wanted:
        return []
    known = set(
        session.scalars(
            select(DocumentUpload.sha256).where(
                DocumentUpload.sha256.in_(wanted), DocumentUpload.org_id == principal.org_id
            )
        )
    )
    for field, sha in named:
        if sha not in known:
            raise InvalidInput(
                f"$.{field}: names document {sha}, which your organisation has not uploaded (POST /v1/documents)",
                code="unknown_document",
            )
    return sorted(set(named))


def put_passport(
    session: Session, principal: Principal, subject: Subject, body: Any, *, now: datetime
) -> dict[str, Any]:
    """Add a version: refused whole (403, 422) or written whole, with its leaf, in the caller's transaction."""
    _require_maker(principal, subject)
    document = validate_document(body)
    refs = _check_documents(session, principal, document)
    # Created if absent (a concurrent first PUT waits on the unique subject, then finds the row), then locked:
    # concurrent PUTs to one passport take turns and version numbers stay dense.
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(Passport)
        .values(
            subject=subject.key,
            level=subject.level.value,
            gtin=subject.product.gtin,
            batch_id=subject.batch_id,
            unit_id=subject.unit_id,
            version=0,
        )
        .on_conflict_do_nothing(index_elements=["subject"])
    )
    passport = session.scalars(
        select(Passport)
        .where(Passport.subject == subject.key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    passport.version += 1
    try:
        canonical(document)
    except ValueError as error:  # NaN or an infinity slipped through the JSON parser
        raise InvalidInput(f"$: {error}", code="invalid_passport") from None
    leaf = passport_leaf_bytes(
        PassportLeaf(
            subject=subject.key,
            level=subject.level.value,
            gtin=subject.product.gtin,
            lot=subject.lot,
            serial=subject.serial,
            version=passport.version,
            org=principal.org_id,
            recorded_at=now,
            passport=document,
        )
    )
    index = log.append_bytes(session, leaf, None)
    row = PassportVersion(
        passport_id=passport.id,
        version=passport.version,
        org_id=principal.org_id,
        recorded_at=now,
        log_index=index,
        leaf=leaf,
    )
    session.add(row)
    session.flush()
    session.add_all(PassportDocumentRef(version_id=row.id, sha256=sha, field=field) for field, sha in refs)
    session.flush()
    return version_view(row, subject.key, leaf, today=now.date())


def version_view(row: PassportVersion, subject: str, leaf: bytes, *, today: date | None) -> dict[str, Any]:
    """A version's metadata; with ``today``, its whole document too (certifications with their status)."""
    view: dict[str, Any] = {
        "subject": subject,
        "version": row.version,
        "recorded_at": row.recorded_at.isoformat(),
        "log_index": row.log_index,
        "leaf_hash": leaf_hash(leaf).hex(),
    }
    if today is not None:
        view["passport"] = with_status(json.loads(leaf)["passport"], today)
    return view


def _passport(session: Session, subject: Subject) -> Passport:
    passport = session.scalar(select(Passport).where(Passport.subject == subject.key))
    if passport is None:
        raise NotFound(f"{subject.key} has no passport yet", code="passport_not_found")
    return passport


def get_version(
    session: Session, principal: Principal, subject: Subject, version: int | None, *, today: date
) -> dict[str, Any]:
    """The newest version, or version ``version``, whole: for the manufacturer and regulators."""
    _require_reader(principal, subject)
    passport = _passport(session, subject)
    wanted = passport.version if version is None else version
    row = session.scalar(
        select(PassportVersion).where(PassportVersion.passport_id == passport.id, PassportVersion.version == wanted)
    )
    if row is None:
        raise NotFound(f"{subject.key} has versions 1 to {passport.version}", code="version_not_found")
    return version_view(row, subject.key, bytes(row.leaf), today=today)


def list_versions(
    session: Session, principal: Principal, subject: Subject, *, after: int, limit: int, history: bool
) -> dict[str, Any]:
    """Versions after ``after``, oldest first, ``limit`` at a time (keyset paging on the version number: a
    page costs the same with ten versions or ten thousand). With ``history``, each version lists what changed
    from the one before it, field by field (``changes``), for a regulator reading the passport's story."""
    _require_reader(principal, subject)
    if not 1 <= limit <= MAX_PAGE or after < 0:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE} and after at least 0", code="invalid_page")
    passport = _passport(session, subject)
    rows = list(
        session.scalars(
            select(PassportVersion)
            .where(PassportVersion.passport_id == passport.id, PassportVersion.version > after)
            .order_by(PassportVersion.version)
            .limit(limit)
        )
    )
    previous: dict[str, Any] = {}
    if history and after > 0 and rows:
        before = session.scalar(
            select(PassportVersion.leaf).where(
                PassportVersion.passport_id == passport.id, PassportVersion.version == after
            )
        )
        previous = json.loads(bytes(before))["passport"] if before is not None else {}
    views = []
    for row in rows:
        leaf = bytes(row.leaf)
        view = version_view(row, subject.key, leaf, today=None)
        if history:
            document = json.loads(leaf)["passport"]
            view["changes"] = changes(previous, document)
            previous = document
        views.append(view)
    last = views[-1]["version"] if views else after
    return {
        "subject": subject.key,
        "versions": views,
        "total": passport.version,
        "next_after": last if last < passport.version else None,
    }


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-level fields added, removed or replaced, in field order: a diff a person (or ``jq``) can read."""
    found = []
    for field in sorted(before.keys() | after.keys()):
        if field not in before:
            found.append({"field": field, "op": "add", "to": after[field]})
        elif field not in after:
            found.append({"field": field, "op": "remove", "from": before[field]})
        elif before[field] != after[field]:
            found.append({"field": field, "op": "replace", "from": before[field], "to": after[field]})
    return found


def lapsing_certificates(session: Session, principal: Principal, *, today: date, days: int) -> dict[str, Any]:
    """Regulators: the newest version of every passport whose certifications, valid today, lapse within ``days``."""
    principal.require_role(Role.REGULATOR, Role.ADMIN)
    if not 0 <= days <= 3660:
        raise InvalidInput("days must be 0 to 3660", code="invalid_days")
    until = date.fromordinal(today.toordinal() + days)
    rows = session.execute(
        select(Passport.subject, Passport.level, Passport.gtin, Product.name, Product.manufacturer_id, PassportVersion)
        .join(
            PassportVersion,
            (PassportVersion.passport_id == Passport.id) & (PassportVersion.version == Passport.version),
        )
        .join(Product, Product.gtin == Passport.gtin)
        .order_by(Passport.subject)
    )
    found = []
    for subject, level, gtin, name, maker, row in rows:
        certs = lapsing(json.loads(bytes(row.leaf))["passport"], today, until)
        if certs:
            found.append(
                {
                    "subject": subject,
                    "level": level,
                    "gtin": gtin,
                    "product": name,
                    "manufacturer": maker,
                    "version": row.version,
                    "certifications": certs,
                    "lapses_on": min(c["valid_until"] for c in certs),
                }
            )
    found.sort(key=lambda f: (f["lapses_on"], f["subject"]))
    return {"today": today.isoformat(), "until": until.isoformat(), "passports": found}
