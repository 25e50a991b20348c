"""The verification lookup's connections, below SQLAlchemy: the hottest query of the service.

SQLite answers in-process, so a lookup there is a plain call on a kept driver connection (``DirectLookups``).
PostgreSQL is a round trip away: ``GroupedLookups`` asks it on the event loop, without blocking the loop, and puts
the codes of the requests that arrive while a statement is in flight into the next one. Both answer
``await fetch(gtin, serial)`` with the row of ``app.db.units.lookup_sql`` or None; ``unit_lookups`` picks one.
The row ends with a touched unit's journey (``app.db.journeys``), which ``journey_rows`` decodes: a sold pack costs
one statement like a fresh code. All are made from the one engine the verifier is given: the source of their
connections.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine

from app.db.engine import POSTGRES_OPTIONS, connect_kwargs, libpq_url
from app.db.journeys import LOOKUP_WITH_JOURNEY_MANY_SQL, LOOKUP_WITH_JOURNEY_SQL, sqlite_journey

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One ``T`` per event loop, made on first use there (asyncio's connections, tasks and limiters belong to the
    loop that made them); those of loops since closed are let go with ``release``. A serving process has one loop;
    tests and tools may run several, one after another or in threads of their own."""

    def __init__(self, make: Callable[[], T], release: Callable[[T], None] = lambda _: None) -> None:
        self._make = make
        self._release = release
        self._by_loop: dict[asyncio.AbstractEventLoop, T] = {}

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        mine = self._by_loop.get(loop)
        if mine is None:
            for other, theirs in list(self._by_loop.items()):  # a copy: another thread's loop may be adding itself
                if other.is_closed():
                    self._by_loop.pop(other, None)
                    self._release(theirs)
            mine = self._by_loop[loop] = self._make()
        return mine

    def shares(self) -> list[T]:
        """Every loop's ``T`` made so far (a copy)."""
        return list(self._by_loop.values())

    def release_all(self) -> None:
        for loop in list(self._by_loop):
            self._release(self._by_loop.pop(loop))


class LookupFailed(Exception):
    """The statement that was to answer this lookup failed (its cause attached)."""


def unit_lookups(engine: Engine) -> DirectLookups | GroupedLookups:
    """The row carries the unit's journey as its last column (``journey_rows`` decodes it)."""
    if engine.dialect.name == "postgresql":
        return GroupedLookups(engine, LOOKUP_WITH_JOURNEY_MANY_SQL)
    return DirectLookups(engine, LOOKUP_WITH_JOURNEY_SQL)


def _postgresql_journey(column: list[Any] | None) -> list[Any]:
    return column or []  # psycopg decodes JSON; NULL for an untouched unit


def journey_rows(engine: Engine) -> Callable[[Any], list[Any]]:
    """The rows of ``app.db.journeys`` (a list, maybe empty) from the last column of a ``unit_lookups`` row."""
    return _postgresql_journey if engine.dialect.name == "postgresql" else sqlite_journey


class DirectLookups:
    """SQLite: driver connections that only run the lookup, in autocommit, kept outside SQLAlchemy's pool (whose
    checkout and rollback on return cost a tenth of a scan). One that fails is dropped and the query runs once
    more on a new one. ``all_rows``: ``fetch`` answers a list of every row (maybe empty), not the first or None."""

    def __init__(self, engine: Engine, sql: str, *, all_rows: bool = False) -> None:
        self._engine = engine
        self._sql = sql
        self._all_rows = all_rows
        self._idle: list[Any] = []  # list.append and list.pop are atomic: no lock needed
        self._lost = engine.dialect.loaded_dbapi.OperationalError

    def _connect(self) -> Any:
        pooled = self._engine.raw_connection()  # the engine's connect hooks (pragmas; autocommit, see app.db.engine)
        driver = pooled.driver_connection
        pooled.detach()  # ours from now on: closed by close(), never returned to the pool
        return driver

    async def fetch(self, *params: Any) -> Any:
        """The statement's first row for ``params`` (the unit lookup's: GTIN, serial), or None (with ``all_rows``:
        the list of its rows)."""
        for attempt in (1, 2):
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._connect()
            try:
                cursor = conn.execute(self._sql, params)
                if self._all_rows:
                    rows = [tuple(r) for r in cursor.fetchall()]
                    self._idle.append(conn)
                    return rows
                row = cursor.fetchone()
            except self._lost:
                conn.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                conn.close()
                raise
            self._idle.append(conn)
            return tuple(row) if row is not None else None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


APPLICATION_NAME = "passport lookups"  # how these connections show in pg_stat_activity
TIMEOUT_S = 10  # to connect, and for a statement: a database that stops answering fails its scans, not hangs them
Waiter = tuple[tuple[Any, ...], "asyncio.Future[Any]"]  # (the key, e.g. (gtin, serial); the requester's future)


@dataclass
class _OnLoop:
    """One event loop's share: its connection (psycopg's async connections belong to one loop), the codes
    waiting for the next statement, and the task sending them."""

    connection: Any = None
    waiting: list[Waiter] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None


class GroupedLookups:
    """PostgreSQL lookups of codes on the event loop, the codes asked for together answered by one statement.

    The first code goes out at once; the codes asked for while that statement is in flight go together in the
    next one (up to ``MAX_CODES``). At low load that is one code per statement and no added wait; under load, a
    round trip's worth of requests shares a statement. On the 1M-unit benchmark a single-code statement cost
    PostgreSQL ~70 us of CPU and the client ~40 us more, while eight codes in one cost ~15 us each on the server;
    and while a statement is in flight the event loop serves other requests instead of waiting for the answer.

    ``sql`` takes an array of GTINs and one of serials and answers a row per code found, starting with the code.
    (Any key works the same way: one array per part of the key, each row starting with its key; ``all_rows``:
    a key may have many rows, answered as a list, in the statement's order.) A connection found lost is replaced
    and the statement sent once more; any other failure is raised to every requester of that statement.
    """

    MAX_CODES = 256

    def __init__(
        self,
        engine: Engine,
        sql: str,
        *,
        all_rows: bool = False,
        what: str = "the unit lookup",
        application_name: str = APPLICATION_NAME,
    ) -> None:
        self._url = libpq_url(engine)
        self._pooled = connect_kwargs(engine)  # behind PgBouncer: no server-side prepared statements
        self._sql = sql
        self._all_rows = all_rows
        self._what = what  # names the statement in a requester's LookupFailed
        self._application_name = application_name
        self._loops = PerLoop(_OnLoop, _finish)
        self.statements = 0  # statements sent (fewer than codes under load), for tests

    async def fetch(self, *key: Any) -> Any:
        """The row for one key, e.g. a code (without the key), or None if there is none (with ``all_rows``:
        the list of its rows)."""
        loop = asyncio.get_running_loop()
        mine = self._loops.get()
        future: asyncio.Future[Any] = loop.create_future()
        mine.waiting.append((key, future))
        if mine.sender is None or mine.sender.done():  # done: cancelled before it ever ran
            mine.sender = loop.create_task(self._send(mine))
        result: tuple[Any, ...] | None = await future
        return result

    async def _send(self, mine: _OnLoop) -> None:
        try:
            while mine.waiting:
                batch = mine.waiting[: self.MAX_CODES]
                del mine.waiting[: self.MAX_CODES]
                try:
                    found = await self._query(mine, [list(part) for part in zip(*(w[0] for w in batch), strict=True)])
                except BaseException as error:
                    _fail(batch, error, self._what)
                    if not isinstance(error, Exception):
                        raise
                    continue
                _answer(batch, found, [] if self._all_rows else None)
        except BaseException as error:  # cancelled with its loop: nobody may be left waiting
            _fail(mine.waiting, error, self._what)
            mine.waiting.clear()
            raise
        finally:
            mine.sender = None

    async def _query(self, mine: _OnLoop, keys: list[list[Any]]) -> dict[tuple[Any, ...], Any]:
        import psycopg

        for attempt in (1, 2):
            if mine.connection is None or mine.connection.closed:
                mine.connection = await psycopg.AsyncConnection.connect(
                    self._url,
                    autocommit=True,
                    options=POSTGRES_OPTIONS,
                    application_name=self._application_name,
                    connect_timeout=TIMEOUT_S,
                    **self._pooled,
                )
            self.statements += 1
            try:
                async with asyncio.timeout(TIMEOUT_S):
                    cursor = await mine.connection.execute(self._sql, keys)
                    return self._by_key(len(keys), await cursor.fetchall())
            except TimeoutError:
                _finish(mine)  # mid-statement: the connection's state is unknown; not retried
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError):
                await mine.connection.close()
                mine.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _by_key(self, width: int, rows: list[Any]) -> dict[tuple[Any, ...], Any]:
        if not self._all_rows:
            return {tuple(row[:width]): row[width:] for row in rows}
        found: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            found.setdefault(tuple(row[:width]), []).append(tuple(row[width:]))
        return found

    def close(self) -> None:
        """Close every loop's connection (from any thread, once no lookup is under way)."""
        self._loops.release_all()


def _answer(batch: list[Waiter], found: dict[tuple[Any, ...], Any], missing: Any) -> None:
    for key, future in batch:
        if not future.done():  # done: its request was cancelled meanwhile
            future.set_result(found.get(key, missing))


def _fail(batch: list[Waiter], error: BaseException, what: str) -> None:
    for _, future in batch:
        if future.done():
            continue
        if isinstance(error, asyncio.CancelledError):
            future.cancel()
        else:  # an exception of its own for each requester (a raised exception gathers its traceback)
            failure = LookupFailed(f"{what} failed: {type(error).__name__}: {error}")
            failure.__cause__ = error
            future.set_exception(failure)


def _finish(mine: _OnLoop) -> None:
    # An async connection is closed by a coroutine on its own loop, which may be gone; libpq's own close (the
    # socket and the server session) needs neither.
    if mine.connection is not None:
        mine.connection.pgconn.finish()
        mine.connection = None
