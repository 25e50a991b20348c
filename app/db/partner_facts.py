"""What a partner answer needs from the database besides the unit lookup, in one statement below the ORM.

A trading partner's verification (app/services/partner_desk.py) needs, besides the unit lookup of the public scan:
the organisation of the Bearer key and its licence grants, the product's manufacturer and category, and the tag of
the current signing key. None of it depends on the unit, so the desk keeps what this statement answers for a key and
a GTIN for a couple of seconds (``PASSPORT_PARTNER_FACTS_SECONDS``) and runs it about once per key, GTIN and that
interval, not once per answer. Whether the requester ever held the unit is decided where its row is written, in the
keeper's transaction (``app.db.partner_rows.held_pairs``). On SQLite the statement is a call on a kept driver
connection on the event loop (WAL readers never wait for the writer); on PostgreSQL one statement on the event loop
for all the requests that arrive together (``GroupedLookups``, as the public scan's unit lookup), on an autocommit
connection of its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from app.db.lookups import DirectLookups, GroupedLookups

# The organisation's licence grants as one JSON array of [kind, valid_from, valid_until, revoked_at].
_LICENCES_POSTGRESQL = (
    "SELECT coalesce(json_agg(json_build_array(l.kind, l.valid_from, l.valid_until, l.revoked_at)), '[]'::json) "
    "FROM licence l"
)
_LICENCES_SQLITE = (
    "SELECT json_group_array(json_array(l.kind, l.valid_from, l.valid_until, l.revoked_at)) FROM licence l"
)


def partner_facts_sql(dialect: str) -> str:
    """Parameters: the GTIN asked about (or NULL), the API key's hash. One row when the key is known and not revoked,
    else none."""
    p = "%s" if dialect == "postgresql" else "?"
    licences = _LICENCES_POSTGRESQL if dialect == "postgresql" else _LICENCES_SQLITE
    return f"""
SELECT o.id, o.name, o.role, ({licences} WHERE l.org_id = o.id),
       p.manufacturer_id, m.name, m.gln, p.category,
       (SELECT max(s.key_tag) FROM signing_key s WHERE s.retired_at IS NULL)
FROM api_key k
JOIN organisation o ON o.id = k.org_id
LEFT JOIN product p ON p.gtin = {p}
LEFT JOIN organisation m ON m.id = p.manufacturer_id
WHERE k.key_hash = {p} AND k.revoked_at IS NULL"""  # noqa: S608 - no value is formatted in


# PostgreSQL, the requests that arrive together in one statement (``GroupedLookups``): two arrays (the keys' hashes,
# the GTINs; NULL where none), a row per request whose key is known and not revoked, starting with its key (hash,
# GTIN), as GroupedLookups matches rows to requesters.
PARTNER_FACTS_MANY_SQL = f"""
SELECT r.key_hash, r.gtin, o.id, o.name, o.role, ({_LICENCES_POSTGRESQL} WHERE l.org_id = o.id),
       p.manufacturer_id, m.name, m.gln, p.category, s.key_tag
FROM unnest(%s::text[], %s::text[]) AS r (key_hash, gtin)
JOIN api_key k ON k.key_hash = r.key_hash AND k.revoked_at IS NULL
JOIN organisation o ON o.id = k.org_id
LEFT JOIN product p ON p.gtin = r.gtin
LEFT JOIN organisation m ON m.id = p.manufacturer_id
CROSS JOIN (SELECT max(key_tag) AS key_tag FROM signing_key WHERE retired_at IS NULL) s"""  # noqa: S608


@dataclass(frozen=True, slots=True)
class LicenceRow:
    kind: str
    valid_from: date
    valid_until: date | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProductRow:
    manufacturer_id: str
    manufacturer_name: str
    manufacturer_gln: str | None
    category: str


@dataclass(frozen=True, slots=True)
class PartnerFacts:
    org_id: str
    org_name: str
    role: str
    licences: tuple[LicenceRow, ...]
    product: ProductRow | None  # None: no product of that GTIN (or no GTIN asked)
    key_tag: int | None  # the current signing key; None: none (a deployment error)


def _day(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def partner_facts(raw: Any) -> PartnerFacts:
    org_id, org_name, role, licences, maker_id, maker_name, maker_gln, category, key_tag = raw
    terms = json.loads(licences) if isinstance(licences, str) else licences
    return PartnerFacts(
        org_id,
        org_name,
        role,
        tuple(LicenceRow(kind, _day(start), _day(end), _moment(revoked)) for kind, start, end, revoked in terms),
        ProductRow(maker_id, maker_name, maker_gln, category) if maker_id is not None else None,
        key_tag,
    )


def grouped_facts(engine: Engine) -> GroupedLookups:
    """PostgreSQL: the facts of the partner requests that arrive together, in one statement on the event loop.
    Profiled under load (docs/partner-verification.md), one statement per request cost the event loop ~270 us of
    psycopg's work per answer (more than the unit lookup, the signature and the answer together) and PostgreSQL
    ~220 us of CPU; a statement's cost is mostly its own, not its rows'."""
    return GroupedLookups(
        engine, PARTNER_FACTS_MANY_SQL, what="the partner facts lookup", application_name="passport partner reads"
    )


class PartnerFactsLookups:
    """``await fetch(key_hash, gtin)``: the facts, or None for an unknown or revoked key."""

    def __init__(self, engine: Engine) -> None:
        self._grouped = engine.dialect.name == "postgresql"
        self._lookups: DirectLookups | GroupedLookups = (
            grouped_facts(engine) if self._grouped else DirectLookups(engine, partner_facts_sql(engine.dialect.name))
        )

    async def fetch(self, key_hash: str, gtin: str | None) -> PartnerFacts | None:
        if self._grouped:
            raw = await self._lookups.fetch(key_hash, gtin)
        else:
            raw = await self._lookups.fetch(gtin, key_hash)
        return partner_facts(raw) if raw is not None else None

    def close(self) -> None:
        self._lookups.close()
