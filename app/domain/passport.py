"""Passports: the product's own data, at three levels, shown by tier (see docs/passports.md).

A passport document (``passport_schema/product-passport.schema.json``) exists for a product (GTIN), a lot
(GTIN + lot) and a unit (GTIN + serial); each level adds to the one above (``merge``). Every top-level field
carries a tier, from the document's ``tiers`` or from ``DEFAULT_TIERS``; a reader sees the fields of its tier
and the tiers below it (``visible``). Certifications carry a status for a given day (``certificate_status``).
Pure: the caller passes ``today`` and the reader's tier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from enum import StrEnum
from typing import Any


class Tier(StrEnum):
    """Who may read a field: anyone scanning < partners (made, held or sold the product) < regulators."""

    PUBLIC = "public"
    PARTNER = "partner"
    AUTHORITY = "authority"


RANK = {Tier.PUBLIC: 0, Tier.PARTNER: 1, Tier.AUTHORITY: 2}


class Level(StrEnum):
    PRODUCT = "product"
    LOT = "lot"
    UNIT = "unit"


LEVELS = (Level.PRODUCT, Level.LOT, Level.UNIT)  # each adds to the one before it


class CertificateStatus(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


# The tier of a field the document's ``tiers`` does not name. Consumer-facing facts are public; the factory
# (a commercial detail) and test reports (a lab's numbers, for partners and market surveillance) are not.
DEFAULT_TIERS: dict[str, Tier] = {
    "manufacturer": Tier.PUBLIC,
    "facility": Tier.PARTNER,
    "origin": Tier.PUBLIC,
    "standards": Tier.PUBLIC,
    "certifications": Tier.PUBLIC,
    "test_reports": Tier.PARTNER,
    "composition": Tier.PUBLIC,
    "instructions": Tier.PUBLIC,
    "warnings": Tier.PUBLIC,
    "disposal": Tier.PUBLIC,
    "links": Tier.PUBLIC,
    "leaflet": Tier.PUBLIC,
    "storage": Tier.PUBLIC,
}
FALLBACK_TIER = Tier.AUTHORITY  # a field no table names: shown to the fewest
META_FIELDS = frozenset({"tiers"})

# Lists merge item by item: a lower level's item with the same identity replaces the upper one, others are added.
LIST_IDENTITY: dict[str, tuple[str, ...]] = {
    "standards": ("code",),
    "certifications": ("scheme", "number"),
    "test_reports": ("lab", "number"),
    "links": ("linkType", "lang", "href"),
}
# Fields whose value is an object merge key by key (the lower level wins per key); every other field is replaced.
OBJECT_FIELDS = frozenset({"manufacturer", "facility", "origin", "instructions", "warnings", "disposal", "storage"})

# Where a document (by SHA-256) may be named: the field, and the key inside each item or object.
DOCUMENT_FIELDS = ("certifications", "test_reports", "leaflet")


def tier_of(document: Mapping[str, Any], field: str) -> Tier:
    named = (document.get("tiers") or {}).get(field)
    if named is not None:
        return Tier(named)
    return DEFAULT_TIERS.get(field, FALLBACK_TIER)


def may_see(reader: Tier, field_tier: Tier) -> bool:
    return RANK[reader] >= RANK[field_tier]


def _identity(item: Any, keys: tuple[str, ...]) -> tuple[Any, ...] | None:
    return tuple(item.get(k) for k in keys) if isinstance(item, Mapping) else None


def _merge_list(upper: Sequence[Any], lower: Sequence[Any], keys: tuple[str, ...]) -> list[Any]:
    merged = list(upper)
    for item in lower:
        identity = _identity(item, keys)
        same = [i for i, old in enumerate(merged) if identity is not None and _identity(old, keys) == identity]
        if same:
            merged[same[0]] = item
        else:
            merged.append(item)
    return merged


def merge(documents: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Product, then lot, then unit (``None`` for a level without a passport): each adds to the one above.

    Objects merge key by key, lists item by item (``LIST_IDENTITY``), anything else (text, composition) is
    replaced; ``tiers`` merge key by key, so a lot may show a field to fewer (or more) readers than its product."""
    merged: dict[str, Any] = {}
    for document in documents:
        if not document:
            continue
        for field, value in document.items():
            old = merged.get(field)
            if field == "tiers" or (field in OBJECT_FIELDS and isinstance(old, Mapping) and isinstance(value, Mapping)):
                merged[field] = {**old, **value} if isinstance(old, Mapping) else dict(value)
            elif field in LIST_IDENTITY and isinstance(old, list) and isinstance(value, list):
                merged[field] = _merge_list(old, value, LIST_IDENTITY[field])
            else:
                merged[field] = value
    return merged


def certificate_status(certification: Mapping[str, Any], today: date) -> CertificateStatus:
    """``expired`` past ``valid_until`` or from ``revoked_on``; ``not_yet_valid`` before ``valid_from``."""
    until, revoked, since = (_date(certification.get(k)) for k in ("valid_until", "revoked_on", "valid_from"))
    if (until is not None and today > until) or (revoked is not None and today >= revoked):
        return CertificateStatus.EXPIRED
    if since is not None and today < since:
        return CertificateStatus.NOT_YET_VALID
    return CertificateStatus.VALID


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def with_status(document: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The document with ``status`` set on every certification (never stored: it depends on the day)."""
    shown = dict(document)
    certifications = document.get("certifications")
    if isinstance(certifications, list):
        shown["certifications"] = [
            {**c, "status": certificate_status(c, today).value} if isinstance(c, Mapping) else c for c in certifications
        ]
    return shown


def visible(document: Mapping[str, Any], reader: Tier, today: date) -> dict[str, Any]:
    """The fields ``reader`` may see, certifications with their status, and ``tiers`` for exactly those fields."""
    shown: dict[str, Any] = {}
    tiers: dict[str, str] = {}
    for field, value in document.items():
        if field in META_FIELDS:
            continue
        tier = tier_of(document, field)
        if may_see(reader, tier):
            shown[field] = value
            tiers[field] = tier.value
    shown = with_status(shown, today)
    shown["tiers"] = tiers
    return shown


def documents_named(document: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, sha256)`` for every uploaded document the passport names (certifications, reports, leaflet)."""
    found: list[tuple[str, str]] = []
    for field in DOCUMENT_FIELDS:
        value = document.get(field)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("document"), str):
                found.append((field, item["document"]))
    return found


def lapsing(document: Mapping[str, Any], today: date, until: date) -> list[dict[str, Any]]:
    """Certifications valid today whose validity ends on or before ``until`` (for the regulator's list)."""
    found = []
    for certification in document.get("certifications") or []:
        if not isinstance(certification, Mapping):
            continue
        end = _date(certification.get("valid_until"))
        if end is not None and certificate_status(certification, today) is CertificateStatus.VALID and end <= until:
            found.append({**certification, "status": CertificateStatus.VALID.value})
    return found
