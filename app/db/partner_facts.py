"""Everything a partner answer needs from the database, in one statement below the ORM.

A trading partner's verification (app/services/partner_desk.py) needs, besides the unit lookup of the public scan:
the organisation of the Bearer key and its licence grants, the product's manufacturer and category, whether the
requester ever held the unit (named with it in an event, its holder or addressee now, or holder or addressee of units
of its lot), and the tag of the current signing key. Through a session that was seven statements, a pooled
connection and a transaction per request; here it is one statement: on SQLite a call on a kept driver connection on
the event loop (WAL readers never wait for the writer), on PostgreSQL one round trip on the event loop, on an
autocommit connection of its own.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from app.db.engine import POSTGRES_OPTIONS, connect_kwargs, libpq_url
from app.db.lookups import TIMEOUT_S, DirectLookups, PerLoop

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
        sql = partner_facts_sql(engine.dialect.name)
        self._lookups: DirectLookups | _OnLoopStatement = (
            _OnLoopStatement(libpq_url(engine), sql, connect_kwargs(engine))
            if engine.dialect.name == "postgresql"
            else DirectLookups(engine, sql)
        )

    async def fetch(self, key_hash: str, gtin: str | None, unit_id: int | None) -> PartnerFacts | None:
        raw = await self._lookups.fetch(gtin, unit_id, key_hash)
        return partner_facts(raw) if raw is not None else None

    def close(self) -> None:
        self._lookups.close()


@dataclass
class _Connection:
    connection: Any = None
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)


class _OnLoopStatement:
    """PostgreSQL: the statement on the event loop, on one autocommit connection per loop (psycopg queues the
    statements of concurrent requests on it); no worker thread, no pool. A connection found lost is replaced and the
    statement sent once more."""

    def __init__(self, url: str, sql: str, pooled: dict[str, Any]) -> None:
        self._url = url
        self._pooled = pooled  # behind PgBouncer: no server-side prepared statements (app/db/engine.py)
        self._sql = sql
        self._loops = PerLoop(_Connection, _finish)

    async def fetch(self, *params: Any) -> tuple[Any, ...] | None:
        import psycopg

        mine = self._loops.get()
        for attempt in (1, 2):
            connection = await self._connected(mine)
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    cursor = await connection.execute(self._sql, params)
                    row = await cursor.fetchone()
                    return tuple(row) if row is not None else None
            except TimeoutError:
                _finish(mine)  # mid-statement: the connection's state is unknown; not retried
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError):
                if mine.connection is connection:
                    mine.connection = None
                    await connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connected(self, mine: _Connection) -> Any:
        import psycopg

        async with mine.connecting:  # one connection per loop, however many requests find none
            if mine.connection is None or mine.connection.closed:
                mine.connection = await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    options=POSTGRES_OPTIONS,
                    application_name="passport partner reads",
                    connect_timeout=TIMEOUT_S,
                    **self._pooled,
                )
            return mine.connection

    def close(self) -> None:
        """Close every loop's connection (from any thread, once no lookup is under way)."""
        self._loops.release_all()


def _finish(mine: _Connection) -> None:
    # libpq's own close: the connection's loop may be gone (see app.db.lookups).
    if mine.connection is not None:
        mine.connection.pgconn.finish()
        mine.connection = None
