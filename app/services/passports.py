"""Reading passports: who sees which tier, and the merged, tier-filtered passport of a product, lot or unit.

The scan paths call ``visible_passport``; it reads the newest version of each level in one query.
"""

from __future__ import annotations

import json
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from app.db.models import Batch, LotCustody, LotHop, LotSale, Product
from app.db.passport_models import Passport, PassportVersion
from app.domain.orgs import READS_EVERYTHING
from app.domain.passport import LEVELS, Level, Tier, merge, visible
from app.services.orgs import Principal

Db = Session | Connection


def subject_of(gtin: str, lot: str | None = None, serial: str | None = None) -> str:
    """The passport's key: its GS1 Digital Link path (a lot-level and a unit-level path never collide)."""
    if serial is not None:
        return f"01/{gtin}/21/{serial}"
    if lot is not None:
        return f"01/{gtin}/10/{lot}"
    return f"01/{gtin}"


def is_partner(db: Db, org_id: str, gtin: str) -> bool:
    """The organisation made the product, or shipped, received, holds or sold (as a platform) units of it: read
    from the per-lot counters custody keeps up to date (a few index lookups, whatever the number of units)."""
    lots = select(Batch.id).where(Batch.gtin == gtin)
    made = exists().where(Product.gtin == gtin, Product.manufacturer_id == org_id)
    hopped = exists().where(LotHop.batch_id.in_(lots), or_(LotHop.from_id == org_id, LotHop.to_id == org_id))
    held = exists().where(
        LotCustody.batch_id.in_(lots), or_(LotCustody.holder_id == org_id, LotCustody.to_id == org_id)
    )
    sold = exists().where(LotSale.batch_id.in_(lots), LotSale.platform_id == org_id)
    return bool(db.execute(select(or_(made, hopped, held, sold))).scalar())


def reader_tier(db: Db, reader: Principal | None, gtin: str) -> Tier:
    """Anonymous: public; regulators (and the operator's admin keys): authority; partners of the product: partner."""
    if reader is None:
        return Tier.PUBLIC
    if reader.role in READS_EVERYTHING:
        return Tier.AUTHORITY
    return Tier.PARTNER if is_partner(db, reader.org_id, gtin) else Tier.PUBLIC


_NEWEST = (
    select(Passport.subject, PassportVersion.version, PassportVersion.leaf)
    .join(PassportVersion, (PassportVersion.passport_id == Passport.id) & (PassportVersion.version == Passport.version))
    .where(Passport.subject.in_(bindparam("subjects", expanding=True)))
)  # built once: a scan pays for executing it, not for building it


def newest_leaves(db: Db, gtin: str, lot: str | None, serial: str | None) -> dict[Level, tuple[int, bytes]]:
    """The newest version (number, leaf bytes) of each level that has a passport, in one query."""
    subjects = {subject_of(gtin): Level.PRODUCT}
    if lot is not None:
        subjects[subject_of(gtin, lot)] = Level.LOT
    if serial is not None:
        subjects[subject_of(gtin, serial=serial)] = Level.UNIT
    rows = db.execute(_NEWEST, {"subjects": list(subjects)})
    return {subjects[subject]: (version, bytes(leaf)) for subject, version, leaf in rows}


def newest_documents(db: Db, gtin: str, lot: str | None, serial: str | None) -> dict[Level, tuple[int, dict[str, Any]]]:
    """The newest version (number, document) of each level that has a passport, in one query."""
    found = newest_leaves(db, gtin, lot, serial)
    return {level: (version, json.loads(leaf)["passport"]) for level, (version, leaf) in found.items()}


@lru_cache(maxsize=256)
def _shown(leaves: tuple[bytes | None, ...], tier: Tier, today: date) -> dict[str, Any]:
    """The merged passport as ``tier`` sees it on ``today``. Versions are never edited, so the leaves' bytes are a
    safe key (content-addressed: right across databases too); a scan skips parsing, merging and filtering."""
    return visible(merge(json.loads(leaf)["passport"] if leaf is not None else None for leaf in leaves), tier, today)


def visible_passport(
    db: Db,
    gtin: str,
    lot: str | None = None,
    serial: str | None = None,
    reader: Principal | None = None,
    *,
    today: date,
    tier: Tier | None = None,
) -> dict[str, Any] | None:
    """The product's passport with the lot's and the unit's added, as ``reader`` may see it on ``today``; None when
    no level has a passport. Besides the visible fields: ``tiers`` (the tier of each field shown), ``tier`` (the
    reader's) and ``versions`` (the version of each level merged, e.g. ``{"product": 3, "lot": 1}``).
    ``tier`` overrides the reader's (a caller that already knows it saves the partner query)."""
    found = newest_leaves(db, gtin, lot, serial)
    if not found:
        return None
    tier = tier or reader_tier(db, reader, gtin)
    shown = dict(_shown(tuple(found[level][1] if level in found else None for level in LEVELS), tier, today))
    shown["tier"] = tier.value
    shown["versions"] = {level.value: found[level][0] for level in LEVELS if level in found}
    return shown
