"""Engines and sessions. SQLite gets the pragmas and transaction handling it needs to behave like a database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
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


def libpq_url(engine: Engine) -> str:
    """The engine's PostgreSQL database as a libpq URL, for the few connections made below SQLAlchemy (with
    ``options=POSTGRES_OPTIONS``)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


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
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_read_engine(engine: Engine, *, size: int = 10, application_name: str = "passport reads") -> Engine:
    """For short reads off the event loop on PostgreSQL: autocommit connections, so no BEGIN before a read, no
    rollback on return to the pool and no ping on checkout (three round trips a read did not need). A connection
    found lost is dropped by the pool; its caller retries (``DBAPIError.connection_invalidated``)."""
    return create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_size=size,
        max_overflow=0,
        pool_reset_on_return=None,
        connect_args={"options": POSTGRES_OPTIONS, "application_name": application_name},
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


WRITE_OPTIONS = {"sqlite_immediate": True}
