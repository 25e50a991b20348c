"""Writing kept partner answers (``partner_verification``) a group at a time, and the oracle guard's count.

Used by the keeper's writer thread (app/services/partner_keeper.py) inside one transaction per group: SQLite's is
``BEGIN IMMEDIATE`` (writers queue for the one lock), PostgreSQL's takes a transaction-scoped advisory lock per
requester it counts for, so two serving processes cannot both let the hundred-and-first request of an hour through.
On PostgreSQL a group where every requester had its unit is first offered to ``insert_if_all_held``: one statement,
committed on its own, with nothing to count.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DataError

from app.db.bulk import copy_rows
from app.db.engine import POSTGRES_OPTIONS, connect_kwargs, libpq_url
from app.db.lookups import TIMEOUT_S
from app.db.models import PartnerVerification

_TABLE: Any = PartnerVerification.__table__
_LOCK_SPACE = 16_016  # advisory locks of the oracle guard: (this number, a hash of the requester)


ANSWER_COLUMNS = (
    "requester_id",
    "manufacturer_id",
    "gtin",
    "serial",
    "unit_id",
    "context",
    "correlation_uuid",
    "verified",
    "held",
    "request",
    "answer",
    "requested_at",
)
_REQUEST, _ANSWER, _AT = (ANSWER_COLUMNS.index(name) for name in ("request", "answer", "requested_at"))


# One answer is one row, named by who asked, when, and the correlation UUID it carries (the unique index
# ``uq_partner_verification_answer``, migration 0029). The UUID alone is not the answer's: it is the requester's,
# echoed as sent, and a partner may send the same one again (a retry of its own, a later check of the same pack), each
# time a new answer, signed at its own moment. A row stored again (a commit whose reply was lost, then the group
# written once more) has all three the same, and every insert below then stores nothing and raises nothing.
ANSWER_KEY = ("requester_id", "requested_at", "correlation_uuid")
_ON_CONFLICT = f" ON CONFLICT ({', '.join(ANSWER_KEY)}) DO NOTHING"


def staged_table(columns: Sequence[str], types: Sequence[str]) -> str:
    """PostgreSQL: the name of the session's scratch table COPY fills (emptied at each commit), after the columns it
    holds. Behind PgBouncer a server connection outlives the processes that used it, so after a deploy that changes
    the columns (or their types) a table of the old shape would still be there under a fixed name, and CREATE ... IF
    NOT EXISTS would keep it: named by a hash of its shape, the new code makes a table of its own."""
    shape = ";".join(f"{name} {type_}" for name, type_ in zip(columns, types, strict=True))
    return f"partner_verification_in_{hashlib.sha1(shape.encode(), usedforsecurity=False).hexdigest()[:8]}"


# The types as PostgreSQL names them (str() would name a timestamp with and without a time zone alike).
_STAGED = staged_table(
    ANSWER_COLUMNS, [_TABLE.c[name].type.compile(dialect=postgresql.dialect()) for name in ANSWER_COLUMNS]
)


def insert_answers(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert kept answers (values in ``ANSWER_COLUMNS`` order; ``request`` a dict, ``answer`` JSON text, kept as
    sent; ``requested_at`` an aware UTC datetime), in order; an answer already stored is left as it is (see
    ``ANSWER_KEY``). On PostgreSQL COPY (below SQLAlchemy's per-row parameter processing, which cost more than the
    insert itself, and it carries any value, a NUL escaped in a request included) into a temporary table, then one
    ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (COPY has no ON CONFLICT): two round trips more than COPY
    straight into the table, against a multi-row ``INSERT ... VALUES`` with parameters that cost the keeper's thread
    4-10 times COPY's CPU. On SQLite one multi-row ``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING``, not an
    ``executemany``: the driver releases and takes back the GIL around each step, so a row each was a GIL hand-over
    each between the keeper's thread and the event loop."""
    if not rows:
        return
    stored = _stored_at(conn)
    values = [
        (*row[:_REQUEST], json.dumps(row[_REQUEST]), row[_ANSWER], stored(row[_AT]), *row[_AT + 1 :]) for row in rows
    ]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_STAGE)
        copy_rows(conn, _STAGED, (*ANSWER_COLUMNS, "ord"), [(*value, n) for n, value in enumerate(values)])
        conn.exec_driver_sql(_FROM_STAGED)
        return
    for start in range(0, len(values), _SQLITE_ROWS):
        chunk = values[start : start + _SQLITE_ROWS]
        conn.exec_driver_sql(_sqlite_insert(len(chunk)), tuple(chain.from_iterable(chunk)))


_NAMES = ", ".join(ANSWER_COLUMNS)
# Created once per session and shape (IF NOT EXISTS: behind PgBouncer the transaction may run on another server
# connection; ``staged_table``), with the table's column types and no constraint, and the rows' order (their ids
# follow it); ON COMMIT DELETE ROWS: empty again when the transaction ends.
_STAGE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED} ON COMMIT DELETE ROWS AS "  # noqa: S608 - no value in the text
    f"SELECT {_NAMES}, 0 AS ord FROM partner_verification WITH NO DATA"
)
_FROM_STAGED = f"INSERT INTO partner_verification ({_NAMES}) SELECT {_NAMES} FROM {_STAGED} ORDER BY ord{_ON_CONFLICT}"  # noqa: S608
_SQLITE_ROWS = 500  # rows per statement: 6,000 parameters, below SQLite's 32,766


@lru_cache(maxsize=64)
def _sqlite_insert(count: int) -> str:
    row = f"({', '.join('?' for _ in ANSWER_COLUMNS)})"
    return f"INSERT INTO partner_verification ({_NAMES}) VALUES {', '.join([row] * count)}{_ON_CONFLICT}"  # noqa: S608


def _stored_at(conn: Connection) -> Any:
    """How ``requested_at`` is stored: the column type's own conversion on SQLite (naive UTC text), as is elsewhere."""
    if conn.dialect.name != "sqlite":
        return lambda at: at
    return _TABLE.c.requested_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


_STORED_POSTGRESQL = (
    "SELECT k.ord - 1 FROM unnest(%s::text[], %s::timestamptz[], %s::text[]) WITH ORDINALITY AS k (r, t, c, ord) "
    "WHERE EXISTS (SELECT 1 FROM partner_verification p "
    "WHERE p.requester_id = k.r AND p.requested_at = k.t AND p.correlation_uuid = k.c)"
)
_STORED_SQLITE = (
    "SELECT j.key FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM partner_verification p "
    "WHERE p.requester_id = json_extract(j.value, '$[0]') AND p.requested_at = json_extract(j.value, '$[1]') "
    "AND p.correlation_uuid = json_extract(j.value, '$[2]'))"
)
_ORG, _CORRELATION = ANSWER_COLUMNS.index("requester_id"), ANSWER_COLUMNS.index("correlation_uuid")


def already_stored(conn: Connection, rows: Sequence[Sequence[Any]]) -> set[int]:
    """Which of the rows (as ``insert_answers`` takes them) are stored already, by position: one statement, through
    the answer's unique index. For a group written again after an outcome not known (a connection lost around a
    commit), so that what was stored is neither counted again by the oracle guard nor refused."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        params: tuple[Any, ...] = tuple([row[i] for row in rows] for i in (_ORG, _AT, _CORRELATION))
        return set(conn.exec_driver_sql(_STORED_POSTGRESQL, params).scalars())
    stored = _stored_at(conn)
    keys = json.dumps([(row[_ORG], stored(row[_AT]), row[_CORRELATION]) for row in rows])
    return set(conn.exec_driver_sql(_STORED_SQLITE, (keys,)).scalars())


def lock_requester(conn: Connection, requester_id: str) -> None:
    """Serialise the oracle guard's count and insert for one requester until this transaction ends (PostgreSQL;
    SQLite's writer lock already serialises every writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:requester))"),
            {"space": _LOCK_SPACE, "requester": requester_id},
        )


def unheld_since(conn: Connection, requester_id: str, since: datetime) -> int:
    """Kept answers about units the requester never held, asked after ``since``."""
    return (
        conn.scalar(
            select(func.count())
            .select_from(PartnerVerification)
            .where(
                PartnerVerification.requester_id == requester_id,
                PartnerVerification.held.is_(False),
                PartnerVerification.requested_at > since,
            )
        )
        or 0
    )


# Whether the requester ever had the unit: named with it in an event (as actor or addressee), its holder or addressee
# now, or holder or addressee of units of its lot (``lot_custody``: a pallet received counts for what was on it). A
# correlated subquery per pair, so each unit is found by its key: as a join, PostgreSQL's planner chose a hash join
# over a sequential scan of ``unit`` whenever its statistics lagged (28 ms a group of 27 on 20,000 units).
_HELD_BY = """(SELECT u.holder_id = r.org_id OR u.to_id = r.org_id
          OR EXISTS (SELECT 1 FROM event_item i JOIN event e ON e.id = i.event_id
                     WHERE i.unit_id = u.id AND (e.org_id = r.org_id OR e.to_id = r.org_id))
          OR EXISTS (SELECT 1 FROM lot_custody c
                     WHERE c.batch_id = u.batch_id AND (c.holder_id = r.org_id OR c.to_id = r.org_id))
       FROM unit u WHERE u.id = r.unit_id)"""
_HELD = f"\nWHERE {_HELD_BY}"
_HELD_POSTGRESQL = (
    "SELECT r.org_id, r.unit_id FROM unnest(%s::text[], %s::bigint[]) AS r (org_id, unit_id)"  # noqa: S608 - no value
    f"{_HELD}"
)
# SQLite: the pairs as one JSON array in one row (one step of the statement: the driver hands the GIL over at each).
_HELD_SQLITE = (
    "SELECT json_group_array(json_array(r.org_id, r.unit_id)) FROM (SELECT json_extract(j.value, '$[0]') AS org_id, "  # noqa: S608
    f"json_extract(j.value, '$[1]') AS unit_id FROM json_each(?) j) r{_HELD}"
)


def held_pairs(conn: Connection, pairs: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Of the (organisation, unit) pairs, those where the organisation ever had the unit: one statement for a whole
    group of kept answers, in the keeper's transaction (so it sees the custody the oracle guard's count sees)."""
    if not pairs:
        return set()
    ordered = sorted(pairs)
    if conn.dialect.name == "postgresql":
        params: tuple[Any, ...] = ([org for org, _ in ordered], [unit for _, unit in ordered])
        rows = conn.exec_driver_sql(_HELD_POSTGRESQL, params)
    else:
        rows = json.loads(conn.exec_driver_sql(_HELD_SQLITE, (json.dumps(ordered),)).scalar_one())
    return {(org, int(unit)) for org, unit in rows}


# PostgreSQL, the common group (every requester had its unit, or its role settles it): decided and inserted by one
# statement that is its own transaction (autocommit), the rows sent as one JSON text. One round trip, so the
# keeper's thread waits for the GIL once: each round trip's return is a wait for the event loop to let go of it
# (a 32-answer group's transaction of five took 2.4-14.7 ms alone and 16-74 ms beside a busy thread, this 25-30 ms;
# docs/partner-verification.md). Inserted only if every answer of the group is held; otherwise nothing is, and the
# group goes through the oracle guard's transaction (``held_pairs``, the count, the insert). An answer already stored
# (the statement committed, its reply lost, and sent again) is left as it is (``ANSWER_KEY``).
_INSERT_IF_ALL_HELD = f"""
WITH r AS MATERIALIZED (
  SELECT * FROM json_to_recordset(%s::json) AS r (
    org_id text, manufacturer_id text, gtin text, serial text, unit_id bigint, context text, correlation_uuid text,
    verified boolean, held boolean, request json, answer text, requested_at timestamptz, ord bigint)
), d AS MATERIALIZED (
  SELECT r.*, COALESCE(r.held, {_HELD_BY}, false) AS decided FROM r
), ins AS (
  INSERT INTO partner_verification ({", ".join(ANSWER_COLUMNS)})
  SELECT org_id, manufacturer_id, gtin, serial, unit_id, context, correlation_uuid, verified, decided, request,
         answer::json, requested_at
  FROM d WHERE NOT EXISTS (SELECT 1 FROM d WHERE NOT decided) ORDER BY ord{_ON_CONFLICT}
)
SELECT NOT EXISTS (SELECT 1 FROM d WHERE NOT decided)"""  # noqa: S608 - no value in the text
_JSON_NAMES = (*("org_id" if name == "requester_id" else name for name in ANSWER_COLUMNS), "ord")


def _rows_json(rows: Sequence[Sequence[Any]]) -> str:
    return json.dumps(
        [
            dict(zip(_JSON_NAMES, (*row[:_AT], row[_AT].isoformat(), *row[_AT + 1 :], ord_), strict=True))
            for ord_, row in enumerate(rows)
        ]
    )


def insert_if_all_held(conn: Connection, rows: Sequence[Sequence[Any]]) -> bool:
    """PostgreSQL: insert the kept answers (as ``insert_answers``; ``held`` None: decided here as ``held_pairs``
    decides) by one statement committed on its own, if every one of them is held; returns whether it did (else
    nothing is written: an answer not held, or a value the statement cannot carry). ``conn`` must not be in a
    transaction: the statement runs in autocommit, then ``conn`` goes back to transactions."""
    text_ = _rows_json(rows)
    conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with conn.begin():  # sends nothing in autocommit: the statement is its own transaction
            return bool(conn.exec_driver_sql(_INSERT_IF_ALL_HELD, (text_,)).scalar_one())
    except DataError:  # a value json_to_recordset cannot carry (a NUL escaped in a request): nothing was written,
        return False  # and the transaction's COPY stores it as it always did
    finally:
        if not conn.invalidated and not conn.closed:
            conn.execution_options(isolation_level=conn.default_isolation_level)


LOOP_APPLICATION_NAME = "passport partner answers"  # how the event loops' connections show in pg_stat_activity


class LoopInserts:
    """PostgreSQL: ``insert_if_all_held`` sent from an event loop on a connection of its own (psycopg's async
    connection, below SQLAlchemy, in autocommit), so that the loop waits for the statement as it waits for a socket,
    with no thread to wake and no GIL to hand over. Belongs to the loop that first used it."""

    def __init__(self, engine: Engine) -> None:
        self._url = libpq_url(engine)
        self._pooled = connect_kwargs(engine)  # behind PgBouncer: no server-side prepared statements
        self._connection: Any = None

    async def insert_if_all_held(self, rows: Sequence[Sequence[Any]]) -> bool:
        """As ``insert_if_all_held``. Raises what the driver raises (nothing written, or, for a connection lost
        mid-statement, not known), or ``TimeoutError`` when the database does not answer within ``TIMEOUT_S`` (a
        connection gone silent); the connection is then let go, and the next call opens another."""
        import psycopg

        try:
            async with asyncio.timeout(TIMEOUT_S):
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(
                        self._url,
                        autocommit=True,
                        options=POSTGRES_OPTIONS,
                        application_name=LOOP_APPLICATION_NAME,
                        connect_timeout=TIMEOUT_S,
                        **self._pooled,
                    )
                cursor = await self._connection.execute(_INSERT_IF_ALL_HELD, (_rows_json(rows),))
                row = await cursor.fetchone()
        except (psycopg.OperationalError, psycopg.InterfaceError, TimeoutError):
            self.finish()  # lost, or mid-statement: its state is unknown
            raise
        return bool(row[0])

    def finish(self) -> None:
        """Close the connection from any thread (libpq's own close: the loop may be gone)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.pgconn.finish()
