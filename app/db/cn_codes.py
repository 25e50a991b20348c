"""Lookups of China's 20-digit drug traceability codes: the product a 药品标识码 names, the unit a code names."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Product, Unit
from app.domain.cn_code import CnCode
from app.domain.identifiers import UnitCode


def product_by_cn_drug_id(session: Session, drug_id: str) -> Product | None:
    return session.scalar(select(Product).where(Product.cn_drug_id == drug_id))


def gtin_by_cn_drug_id(session: Session, drug_id: str) -> str | None:
    return session.scalar(select(Product.gtin).where(Product.cn_drug_id == drug_id))


def unit_code_of(session: Session, code: CnCode) -> UnitCode | None:
    """The GS1 form of a 20-digit code (its product's GTIN, the whole code as serial), or None if no product has its
    7-digit prefix. Whether the unit exists is not asked here: an unregistered unit of a known product is unknown."""
    gtin = gtin_by_cn_drug_id(session, code.drug_id)
    return UnitCode(gtin=gtin, serial=code.code) if gtin is not None else None


def unit_by_cn_code(session: Session, code: CnCode) -> Unit | None:
    """The unit a 20-digit code names, if it was registered (imported, or commissioned through EPCIS)."""
    return session.scalar(
        select(Unit)
        .join(Product, Product.gtin == Unit.gtin)
        .where(Product.cn_drug_id == code.drug_id, Unit.serial == code.code)
    )
