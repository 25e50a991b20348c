"""Reading passports: who sees which tier, and the merged, tier-filtered passport of a product, lot or unit.

The scan paths call ``visible_passport`` (or, on the event loop, ``cached_view`` and ``view_of`` with the version
ids of ``app.db.passport_lookups``): the newest version id of each level is read in one query, and the merged,
tier-filtered passport is kept by those ids (versions are never edited), so a repeated scan reads no version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from app.db.models import Batch, LotCustody, LotHop, LotSale, Passport, PassportVersion, Product
from app.db.passport_lookups import VersionIds, leaves
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


Shown = tuple[dict[str, Any], dict[str, int]]  # the visible fields; the version of each level merged
_Views = dict[tuple[VersionIds, Tier, date], Shown]
# Per database (ids are a database's own: tests and tools open many), while its engine lives.
_VIEWS: WeakKeyDictionary[Engine, _Views] = WeakKeyDictionary()
MAX_VIEWS = 4096  # merged views kept per database; past that the cache starts again (dict get and set need no lock)


def _views(engine: Engine) -> _Views:
    views = _VIEWS.get(engine)
    if views is None:
        views = _VIEWS.setdefault(engine, {})
    return views


def cached_view(engine: Engine, ids: VersionIds, tier: Tier, today: date) -> Shown | None:
    """The merged passport of these versions as ``tier`` sees it on ``today``, if already made: versions are never
    edited, so their ids name the content for good and a hit reads nothing."""
    return _views(engine).get((ids, tier, today))


Read = Callable[[list[int]], dict[int, tuple[int, bytes]]]  # version ids -> {id: (version number, leaf bytes)}


def view_of(engine: Engine, ids: VersionIds, tier: Tier, today: date, read: Read) -> Shown:
    """``cached_view``, else made from the versions ``read`` returns (id -> (version number, leaf bytes))."""
    key = (ids, tier, today)
    views = _views(engine)
    shown = views.get(key)
    if shown is None:
        found = read([id_ for id_ in ids if id_ is not None])
        documents = (json.loads(found[id_][1])["passport"] if id_ is not None else None for id_ in ids)
        versions = {level.value: found[id_][0] for level, id_ in zip(LEVELS, ids, strict=True) if id_ is not None}
        shown = (visible(merge(documents), tier, today), versions)
        if len(views) >= MAX_VIEWS:
            views.clear()
        views[key] = shown
    return shown


def as_shown(view: Shown, tier: Tier) -> dict[str, Any]:
    """A scan's passport: the visible fields, ``tier`` (the reader's) and ``versions``."""
    shown = dict(view[0])
    shown["tier"] = tier.value
    shown["versions"] = dict(view[1])
    return shown


_NEWEST_IDS = (
    select(Passport.subject, PassportVersion.id)
    .join(PassportVersion, (PassportVersion.passport_id == Passport.id) & (PassportVersion.version == Passport.version))
    .where(Passport.subject.in_(bindparam("subjects", expanding=True)))
)


def newest_ids(db: Db, gtin: str, lot: str | None, serial: str | None) -> VersionIds:
    """The id of the newest version of each level's passport (None for a level without one), in one query."""
    subjects = [subject_of(gtin), subject_of(gtin, lot) if lot is not None else None]
    subjects.append(subject_of(gtin, serial=serial) if serial is not None else None)
    found: dict[str, int] = {
        s: id_ for s, id_ in db.execute(_NEWEST_IDS, {"subjects": [s for s in subjects if s is not None]})
    }
    product, lot_id, unit = (found.get(s) if s is not None else None for s in subjects)
    return product, lot_id, unit


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
    ids = newest_ids(db, gtin, lot, serial)
    if ids == (None, None, None):
        return None
    tier = tier or reader_tier(db, reader, gtin)
    connection = db.connection() if isinstance(db, Session) else db
    return as_shown(view_of(connection.engine, ids, tier, today, partial(leaves, connection)), tier)
