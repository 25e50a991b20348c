"""The passport scans' lookups, below SQLAlchemy, as the unit lookup is (``app.db.lookups``).

Two statements, each answering a scan in one round trip with the ids of the passport versions it shows (the
newest version of each level; versions are never edited, so the ids name the passport's content for good):

- ``products``: a product (``lot`` empty) or a lot scan: the product, its maker, the lot's expiry, whether the
  product has recalls, whether an active suspect-product case names the lot (``case_subject``, by its
  ``(batch_id, active)`` index), and the newest version ids of the product's and the lot's passports;
- ``passports``: a unit scan whose product has a passport: the newest version ids of the product's, the unit's
  lot's and the unit's passports.

SQLite asks on a kept driver connection (``DirectLookups``); PostgreSQL on the event loop, the keys of concurrent
scans sharing a statement (``GroupedLookups``). ``leaves`` reads versions by id, for the rare cache miss.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from app.db.lookups import DirectLookups, GroupedLookups
from app.db.models import PassportVersion

Lookups = DirectLookups | GroupedLookups
VersionIds = tuple[int | None, int | None, int | None]  # product, lot, unit


def _newest(subject: str) -> str:
    """The id of the newest version of the passport of ``subject`` (an SQL expression), or NULL."""
    return (
        "(SELECT pv.id FROM passport pp JOIN passport_version pv "  # noqa: S608 (fixed text; values are bound)
        f"ON pv.passport_id = pp.id AND pv.version = pp.version WHERE pp.subject = {subject})"
    )


def _product_columns(gtin: str, lot: str) -> str:
    return (
        "p.name, p.category, o.name, "  # noqa: S608 (fixed text; values are bound)
        f"(SELECT b.expires_on FROM batch b WHERE b.gtin = p.gtin AND b.lot = {lot}), "
        "EXISTS (SELECT 1 FROM recall r WHERE r.gtin = p.gtin), "
        "EXISTS (SELECT 1 FROM batch cb JOIN case_subject cs ON cs.batch_id = cb.id AND cs.active "
        f"WHERE cb.gtin = p.gtin AND cb.lot = {lot}), "
        + _newest(f"'01/' || {gtin}")
        + ", "
        + _newest(f"'01/' || {gtin} || '/10/' || {lot}")
    )


def _passport_columns(gtin: str, serial: str) -> str:
    product, lot = _newest(f"'01/' || {gtin}"), _newest(f"'01/' || {gtin} || '/10/' || b.lot")
    return f"{product}, {lot}, " + _newest(f"'01/' || {gtin} || '/21/' || {serial}")


_PRODUCT_JOIN = "JOIN organisation o ON o.id = p.manufacturer_id"
# SQLite: (gtin, lot) as ?1 and ?2; a row, or none for an unknown GTIN.
PRODUCT_SQL = f"SELECT {_product_columns('?1', '?2')} FROM product p {_PRODUCT_JOIN} WHERE p.gtin = ?1"  # noqa: S608
PRODUCTS_MANY_SQL = (  # PostgreSQL: arrays of GTINs and lots; a row per product found, the key first
    f"SELECT k.gtin, k.lot, {_product_columns('k.gtin', 'k.lot')} "  # noqa: S608
    f"FROM unnest(%s::text[], %s::text[]) AS k(gtin, lot) JOIN product p ON p.gtin = k.gtin {_PRODUCT_JOIN}"
)
# SQLite: (gtin, serial); a row, or none for an unknown unit.
PASSPORT_SQL = (
    f"SELECT {_passport_columns('?1', '?2')} FROM unit u JOIN batch b ON b.id = u.batch_id "  # noqa: S608
    "WHERE u.gtin = ?1 AND u.serial = ?2"
)
PASSPORTS_MANY_SQL = (  # PostgreSQL: arrays of GTINs and serials; a row per unit found, the key first
    f"SELECT k.gtin, k.serial, {_passport_columns('k.gtin', 'k.serial')} "  # noqa: S608
    "FROM unnest(%s::text[], %s::text[]) AS k(gtin, serial) "
    "JOIN unit u ON u.gtin = k.gtin AND u.serial = k.serial JOIN batch b ON b.id = u.batch_id"
)


def product_lookups(engine: Engine) -> Lookups:
    """``await fetch(gtin, lot or "")``: ``product_row``'s input, or None for an unknown GTIN."""
    if engine.dialect.name == "postgresql":
        return GroupedLookups(engine, PRODUCTS_MANY_SQL)
    return DirectLookups(engine, PRODUCT_SQL)


def passport_lookups(engine: Engine) -> Lookups:
    """``await fetch(gtin, serial)``: the unit's ``VersionIds`` (as a row), or None for an unknown unit."""
    if engine.dialect.name == "postgresql":
        return GroupedLookups(engine, PASSPORTS_MANY_SQL)
    return DirectLookups(engine, PASSPORT_SQL)


def product_row(raw: tuple[Any, ...]) -> tuple[dict[str, str], date | None, bool, bool, VersionIds]:
    """(product, the lot's expiry or None for no such lot, the product has recalls, an active case names the lot,
    version ids)."""
    name, category, maker, expires_on, has_recalls, investigated, product_version, lot_version = raw
    if isinstance(expires_on, str):
        expires_on = date.fromisoformat(expires_on)
    product = {"name": name, "category": category, "manufacturer": maker}
    return product, expires_on, bool(has_recalls), bool(investigated), (product_version, lot_version, None)


_LEAVES = select(PassportVersion.id, PassportVersion.version, PassportVersion.leaf).where(
    PassportVersion.id.in_(bindparam("ids", expanding=True))
)


def leaves(conn: Connection, ids: list[int]) -> dict[int, tuple[int, bytes]]:
    """The versions of these ids: id -> (version number, leaf bytes)."""
    return {id_: (version, bytes(leaf)) for id_, version, leaf in conn.execute(_LEAVES, {"ids": ids})}
