"""Products and batches, owned by the manufacturer that registered them."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.cn_codes import product_by_cn_drug_id
from app.db.models import Batch, Organisation, Product
from app.domain.cn_code import validate_cn_drug_id
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.identifiers import date_to_yymmdd, validate_ai_value, validate_gtin
from app.domain.orgs import CATEGORIES, DRUG_CATEGORIES, READS_EVERYTHING, LicenceKind, Role
from app.services.clock import utcnow
from app.services.orgs import Principal, standing_kinds


def create_product(
    session: Session,
    principal: Principal,
    *,
    gtin: str,
    name: str,
    category: str,
    description: str | None = None,
    cn_drug_id: str | None = None,
) -> Product:
    principal.require_role(Role.MANUFACTURER)
    validate_gtin(gtin)
    if category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", code="invalid_category")
    # Read now, not from the key's kept principal (app/services/orgs.py Principals keeps a key 2 s): a licence
    # revoked stands no more from its moment, in every serving process.
    if category in DRUG_CATEGORIES and LicenceKind.DRUG_MANUFACTURING not in standing_kinds(session, principal.org_id):
        raise Conflict("registering a drug needs the drug_manufacturing licence", code="licence_required")
    existing = session.get(Product, gtin)
    if existing is not None:
        if existing.manufacturer_id != principal.org_id:
            raise Conflict(f"GTIN {gtin} is registered by another organisation", code="gtin_taken")
        raise Conflict(f"GTIN {gtin} is already registered", code="gtin_exists")
    if cn_drug_id is not None:
        validate_cn_drug_id(cn_drug_id)
        if product_by_cn_drug_id(session, cn_drug_id) is not None:
            raise Conflict(f"药品标识码 {cn_drug_id} is registered to another product", code="cn_drug_id_taken")
    product = Product(
        gtin=gtin,
        name=name.strip(),
        category=category,
        manufacturer_id=principal.org_id,
        description=description,
        created_at=utcnow(),
        cn_drug_id=cn_drug_id,
    )
    session.add(product)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # another request registered the same 药品标识码 (or GTIN) a moment ago
        raise Conflict(f"药品标识码 {cn_drug_id} or GTIN {gtin} was just registered", code="cn_drug_id_taken") from None
    return product


def _can_read(principal: Principal, product: Product) -> bool:
    return principal.role in READS_EVERYTHING or product.manufacturer_id == principal.org_id


def get_product(session: Session, principal: Principal, gtin: str) -> Product:
    validate_gtin(gtin)
    product = session.get(Product, gtin)
    if product is None:
        raise NotFound(f"no product with GTIN {gtin}", code="product_not_found")
    if not _can_read(principal, product):
        raise Forbidden(f"product {gtin} belongs to another organisation", code="foreign_product")
    return product


def list_products(session: Session, principal: Principal) -> list[Product]:
    query = select(Product).order_by(Product.gtin)
    if principal.role not in READS_EVERYTHING:
        query = query.where(Product.manufacturer_id == principal.org_id)
    return list(session.scalars(query))


def product_view(session: Session, product: Product) -> dict[str, object]:
    manufacturer = session.get(Organisation, product.manufacturer_id)
    return {
        "gtin": product.gtin,
        "name": product.name,
        "category": product.category,
        "description": product.description,
        "manufacturer": {"id": product.manufacturer_id, "name": manufacturer.name if manufacturer else None},
        "created_at": product.created_at,
        "cn_drug_id": product.cn_drug_id,
    }


def create_batch(
    session: Session, principal: Principal, *, gtin: str, lot: str, manufactured_on: date, expires_on: date
) -> Batch:
    principal.require_role(Role.MANUFACTURER)
    product = get_product(session, principal, gtin)
    validate_ai_value("10", lot)
    if expires_on <= manufactured_on:
        raise InvalidInput("expires_on must be after manufactured_on", code="invalid_dates")
    date_to_yymmdd(expires_on)
    if session.scalar(select(Batch.id).where(Batch.gtin == gtin, Batch.lot == lot)) is not None:
        raise Conflict(f"lot {lot} of GTIN {gtin} is already registered", code="lot_exists")
    batch = Batch(
        gtin=product.gtin,
        lot=lot,
        manufactured_on=manufactured_on,
        expires_on=expires_on,
        created_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, principal: Principal, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}", code="batch_not_found")
    product = session.get(Product, batch.gtin)
    if product is None or not _can_read(principal, product):
        raise Forbidden(f"batch {batch_id} belongs to another organisation", code="foreign_batch")
    return batch


def list_batches(session: Session, principal: Principal, gtin: str | None = None) -> list[Batch]:
    query = select(Batch).join(Product, Product.gtin == Batch.gtin).order_by(Batch.id)
    if principal.role not in READS_EVERYTHING:
        query = query.where(Product.manufacturer_id == principal.org_id)
    if gtin is not None:
        query = query.where(Batch.gtin == validate_gtin(gtin))
    return list(session.scalars(query))


def batch_view(batch: Batch) -> dict[str, object]:
    return {
        "id": batch.id,
        "gtin": batch.gtin,
        "lot": batch.lot,
        "manufactured_on": batch.manufactured_on,
        "expires_on": batch.expires_on,
        "created_at": batch.created_at,
    }
