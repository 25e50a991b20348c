"""Engines and sessions. SQLite gets the pragmas and transaction handling it needs to behave like a database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


# No JIT: the service's queries are short, and the row estimates of recursive queries (recall traces) are large
# enough to make PostgreSQL spend more time compiling them than running them.
POSTGRES_OPTIONS = "-c jit=off"


# Behind PgBouncer in transaction pooling mode (PASSPORT_DATABASE_POOLER=pgbouncer, or ``prepare_threshold=none``
# in the URL's query) every transaction may run on a different server connection: psycopg must never prepare a
# statement on the server (it does once a query ran 5 times on a connection; PgBouncer < 1.21 does not carry
# prepared statements across), and nothing may keep session state (advisory locks are transaction-level here).
UNPREPARED = "prepare_threshold"


def unprepared(url: str | URL) -> bool:
    """Whether connections to ``url`` must not use server-side prepared statements (a pooler in front)."""
    value = make_url(url).query.get(UNPREPARED) if isinstance(url, str) else url.query.get(UNPREPARED)
    return isinstance(value, str) and value.lower() in ("none", "0", "off")


def connect_kwargs(engine: Engine) -> dict[str, Any]:
    """What every psycopg connection made below SQLAlchemy (``libpq_url``) passes to ``connect`` besides its own
    options: no automatic prepared statements when a pooler is in front."""
    return {"prepare_threshold": None} if unprepared(engine.url) else {}


def libpq_url(engine: Engine) -> str:
    """The engine's PostgreSQL database as a libpq URL, for the few connections made below SQLAlchemy (with
    ``options=POSTGRES_OPTIONS`` and ``**connect_kwargs(engine)``)."""
    url = engine.url.set(drivername="postgresql").difference_update_query([UNPREPARED])
    return url.render_as_string(hide_password=False)


def _unprepared_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    # SQLAlchemy hands the URL's query to psycopg.connect as keywords: this one must be None, not a string.
    cparams.pop(UNPREPARED, None)
    cparams["prepare_threshold"] = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own BEGIN handling breaks SAVEPOINTs; SQLAlchemy's documented recipe takes over.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the lock up front (BEGIN IMMEDIATE): a deferred transaction that reads and then writes
    # fails at once with "database is locked" when another writer got there first, instead of waiting.
    immediate = conn.get_execution_options().get("sqlite_immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("connect_args", {"options": POSTGRES_OPTIONS})
    return _pooled(create_engine(url, pool_pre_ping=True, **kwargs))


def _pooled(engine: Engine) -> Engine:
    if unprepared(engine.url):
        event.listen(engine, "do_connect", _unprepared_connect)
    return engine


def make_read_engine(engine: Engine, *, size: int = 10, application_name: str = "passport reads") -> Engine:
    """For short reads off the event loop on PostgreSQL: autocommit connections, so no BEGIN before a read, no
    rollback on return to the pool and no ping on checkout (three round trips a read did not need). A connection
    found lost is dropped by the pool; its caller retries (``DBAPIError.connection_invalidated``)."""
    return _pooled(
        create_engine(
            engine.url,
            isolation_level="AUTOCOMMIT",
            pool_size=size,
            max_overflow=0,
            pool_reset_on_return=None,
            connect_args={"options": POSTGRES_OPTIONS, "application_name": application_name},
        )
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "before_commit", _log_committing)
    event.listen(sessions, "after_commit", _log_committed)
    event.listen(sessions, "after_transaction_end", _integrate_log)
    return sessions


# A commit that leaves Merkle-log leaves pending (PostgreSQL) integrates them in its own transaction when the
# sequencer is free, else once its transaction has ended and its connection is back in the pool: app/db/log.py,
# app/services/log.py
def _log_committing(session: Session) -> None:
    from app.db.log import integrate_before_commit

    integrate_before_commit(session)


def _log_committed(session: Session) -> None:
    from app.db.log import integrate_after_commit

    integrate_after_commit(session)


def _integrate_log(session: Session, transaction: Any) -> None:
    from app.db.log import integrate_after_end

    integrate_after_end(session, transaction)


WRITE_OPTIONS = {"sqlite_immediate": True}

# Periodic reads (the webhook round, the EPCIS subscriptions' round, the capture jobs' reaper, the checkpoint a
# monitor polls, the witnesses' proofs) end their transaction with COMMIT (``sessions.begin()``), not by closing the
# session, which rolls back: on PostgreSQL psycopg forgets every statement a connection has prepared at each
# ROLLBACK (it sends DEALLOCATE ALL), so a read each second on a pooled connection kept the busy statements (a
# single event's write batch) from staying prepared, planned again at every event (docs/benchmarks.md, ninth
# session). A request's session commits too (app/api/deps.get_session).
