"""The canonical leaf bytes of a passport version in the Merkle log (described in passport_schema/passport-leaf.md).

Same rules as an event leaf (app/domain/leaf.py): UTF-8 JSON, keys sorted, no insignificant whitespace, every key
always present (null when empty), times RFC 3339 UTC with microseconds and ``Z``, non-ASCII as itself. A passport
leaf is told apart from an event leaf by ``"kind": "passport"`` (event leaves carry no ``kind``). The ``passport``
member is the document as written, in the same canonical form; numbers that are not integers keep the form
Python's ``json`` gives them, which is why the service keeps and serves the exact bytes rather than rebuilding them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.leaf import rfc3339

KIND = "passport"
PASSPORT_LEAF_VERSION = 1


@dataclass(frozen=True, slots=True)
class PassportLeaf:
    subject: str  # "01/{gtin}", "01/{gtin}/10/{lot}" or "01/{gtin}/21/{serial}"
    level: str  # product | lot | unit
    gtin: str
    lot: str | None
    serial: str | None
    version: int
    org: str  # the organisation that wrote the version (the product's manufacturer)
    recorded_at: datetime
    passport: dict[str, Any]


def passport_leaf_document(leaf: PassportLeaf) -> dict[str, Any]:
    return {
        "kind": KIND,
        "v": PASSPORT_LEAF_VERSION,
        "subject": leaf.subject,
        "level": leaf.level,
        "gtin": leaf.gtin,
        "lot": leaf.lot,
        "serial": leaf.serial,
        "version": leaf.version,
        "org": leaf.org,
        "recorded_at": rfc3339(leaf.recorded_at),
        "passport": leaf.passport,
    }


def canonical(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8; NaN and infinities are refused (``ValueError``): JSON has none."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def passport_leaf_bytes(leaf: PassportLeaf) -> bytes:
    return canonical(passport_leaf_document(leaf))


def is_passport_leaf(document: Any) -> bool:
    return isinstance(document, dict) and document.get("kind") == KIND
