"""Everything a partner answer needs from the database, in one statement below the ORM.

A trading partner's verification (app/services/partner_desk.py) needs, besides the unit lookup of the public scan:
the organisation of the Bearer key and its licence grants, the product's manufacturer and category, whether the
requester ever held the unit (named with it in an event, its holder or addressee now, or holder or addressee of units
of its lot), and the tag of the current signing key. Through a session that was seven statements, a pooled
connection and a transaction per request; here it is one statement: on SQLite a call on a kept driver connection on
the event loop (WAL readers never wait for the writer), on PostgreSQL one round trip on an autocommit connection in
a worker thread.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from app.db.engine import make_read_engine
from app.db.lookups import DirectLookups, PerLoop

READER_THREADS = 4


# The organisation's licence grants as one JSON array of [kind, valid_from, valid_until, revoked_at].
_LICENCES_POSTGRESQL = (
    "SELECT coalesce(json_agg(json_build_array(l.kind, l.valid_from, l.valid_until, l.revoked_at)), '[]'::json) "
    "FROM licence l"
)
_LICENCES_SQLITE = (
    "SELECT json_group_array(json_array(l.kind, l.valid_from, l.valid_until, l.revoked_at)) FROM licence l"
)


def partner_facts_sql(dialect: str) -> str:
    """Parameters: the GTIN asked about (or NULL), the unit the code names (or NULL), the API key's hash. One row
    when the key is known and not revoked, else none."""
    p = "%s" if dialect == "postgresql" else "?"
    licences = _LICENCES_POSTGRESQL if dialect == "postgresql" else _LICENCES_SQLITE
    return f"""
SELECT o.id, o.name, o.role, ({licences} WHERE l.org_id = o.id),
       p.manufacturer_id, m.name, m.gln, p.category,
       (SELECT max(s.key_tag) FROM signing_key s WHERE s.retired_at IS NULL),
       CASE WHEN u.id IS NOT NULL AND (
            u.holder_id = o.id OR u.to_id = o.id
            OR EXISTS (SELECT 1 FROM event_item i JOIN event e ON e.id = i.event_id
                       WHERE i.unit_id = u.id AND (e.org_id = o.id OR e.to_id = o.id))
            OR EXISTS (SELECT 1 FROM lot_custody c
                       WHERE c.batch_id = u.batch_id AND (c.holder_id = o.id OR c.to_id = o.id)))
            THEN 1 ELSE 0 END
FROM api_key k
JOIN organisation o ON o.id = k.org_id
LEFT JOIN product p ON p.gtin = {p}
LEFT JOIN organisation m ON m.id = p.manufacturer_id
LEFT JOIN unit u ON u.id = {p}
WHERE k.key_hash = {p} AND k.revoked_at IS NULL"""  # noqa: S608 - no value is formatted in


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
    held_unit: bool  # the requester ever had the unit the code names (False when it names none)


def _day(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def partner_facts(raw: Any) -> PartnerFacts:
    org_id, org_name, role, licences, maker_id, maker_name, maker_gln, category, key_tag, held = raw
    terms = json.loads(licences) if isinstance(licences, str) else licences
    return PartnerFacts(
        org_id,
        org_name,
        role,
        tuple(LicenceRow(kind, _day(start), _day(end), _moment(revoked)) for kind, start, end, revoked in terms),
        ProductRow(maker_id, maker_name, maker_gln, category) if maker_id is not None else None,
        key_tag,
        bool(held),
    )


class PartnerFactsLookups:
    """``await fetch(key_hash, gtin, unit_id)``: the facts, or None for an unknown or revoked key."""

    def __init__(self, engine: Engine) -> None:
        self._sql = partner_facts_sql(engine.dialect.name)
        self._direct: DirectLookups | None = None
        self._reads: Engine | None = None
        if engine.dialect.name == "sqlite":
            self._direct = DirectLookups(engine, self._sql)
        else:
            self._reads = make_read_engine(engine, size=READER_THREADS, application_name="passport partner reads")
            self._readers = PerLoop(lambda: anyio.CapacityLimiter(READER_THREADS))

    async def fetch(self, key_hash: str, gtin: str | None, unit_id: int | None) -> PartnerFacts | None:
        params = (gtin, unit_id, key_hash)
        if self._direct is not None:
            raw = await self._direct.fetch(*params)
        else:
            raw = await anyio.to_thread.run_sync(self._fetch_reading, params, limiter=self._readers.get())
        return partner_facts(raw) if raw is not None else None

    def _fetch_reading(self, params: tuple[Any, ...]) -> Any:
        assert self._reads is not None
        for attempt in (1, 2):
            try:
                with self._reads.connect() as conn:
                    return conn.exec_driver_sql(self._sql, params).first()
            except DBAPIError as error:  # a connection the server dropped (not pinged first): once more
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        if self._reads is not None:
            self._reads.dispose()
