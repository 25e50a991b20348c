"""Kept partner answers: written a group at a time, and answered only once kept.

Each request hands its signed answer to the keeper and waits until the transaction that holds its row has committed,
so an answer that reaches a partner is always on record (a return can be received right after it, by any process),
and nothing waits in memory to be lost when the process stops. The answers that arrive while a group is being
written go together in the next one: one transaction (on SQLite one ``BEGIN IMMEDIATE``, the writer lock taken once
per group, not per request) and one multi-row insert for the lot.

Whether the requester ever had the unit (``held``; the desk settles it alone for the manufacturer, a regulator, or a
code that names no unit) is read here too, one statement for the group, in the transaction that counts and writes.
The oracle guard is decided here, in that transaction: requests about units the requester never held are counted
from the kept rows of the last hour (every serving process sees the same count, no Redis needed), under SQLite's
writer lock or a per-requester advisory lock on PostgreSQL, so the limit holds exactly however many requests race.
A request over the limit is not kept; it raises (or counts one more on) the requester's ``verification_oracle``
alert in the same transaction, and its waiter gets ``RateLimited``.

On PostgreSQL the common group, where every requester had its unit (nothing to count), is one statement that decides
and inserts, committed on its own (``insert_if_all_held``), and the event loop sends it itself, on a connection of
its own (``_send``, as the public scan's lookups are sent): the first answer goes out at once, those kept while that
statement is in flight go together in the next. No timer, no thread to wake, no GIL to hand over: from a thread,
every round trip's return was a wait for the event loop to let go of the GIL, and the linger (below) a wait of its
own, so on an idle machine an answer waited ~20 ms for its commit. A group that statement does not write (an answer
not held, a value it cannot carry, a connection lost) goes to the writer threads and their transaction, as on
SQLite.

On SQLite each event loop gathers its answers for a moment before it hands them to the writer thread as one batch
(it lingers 2 ms after the first, again while more keep arriving, up to 10 ms), so that a group forms without waking
the thread for each answer or linger step: every wake-up of another thread in the serving process takes the GIL from
the event loop (PostgreSQL's loop hands its leftover groups over at once). The thread writes what was handed over
while it wrote the last group as one group (of at most MAX_GROUP answers: a batch that does not fit is split, its
rest written next), wakes each event loop once per group, and keeps its own connection (one found lost is replaced
and the group written once more). A group the database refuses is written again one answer at a time, so one bad
row fails only its own request.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db.alerts import raise_alert
from app.db.engine import WRITE_OPTIONS
from app.db.lookups import PerLoop
from app.db.partner_rows import (
    ANSWER_COLUMNS,
    LoopInserts,
    already_stored,
    held_pairs,
    insert_answers,
    insert_if_all_held,
    lock_requester,
    unheld_since,
)
from app.domain.alerts import SEVERITY, AlertType
from app.domain.errors import RateLimited
from app.services.clock import utcnow

ORACLE_WINDOW = timedelta(hours=1)
MAX_GROUP = 500  # answers in one group (transaction) at most; a loop's batch is handed over at this many too
LINGER_S = 0.002  # how long a loop gathers answers for a batch, again while they keep joining
MAX_LINGER_S = 0.010  # ... up to this long after the first
WRITERS_POSTGRESQL = 2  # writer threads (each with its connection) on PostgreSQL


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """One ``partner_verification`` row: a request and the signed answer it gets."""

    requester_id: str
    manufacturer_id: str | None
    gtin: str | None
    serial: str | None
    unit_id: int | None
    context: str
    correlation_uuid: str
    verified: bool
    held: bool | None  # None: decided where the row is written (whether the requester ever had the unit, ``unit_id``)
    request: dict[str, Any]
    answer: str  # the answer's JSON text, as sent to the requester
    requested_at: datetime


assert tuple(f.name for f in fields(KeptAnswer)) == ANSWER_COLUMNS  # a row is the answer's fields, in order
_HELD = ANSWER_COLUMNS.index("held")
_row_of = operator.attrgetter(*ANSWER_COLUMNS)  # the row's values, in order (one call, not one getattr a column)


class _AnswerClock:
    """The moment of an answer (``requested_at``, to the microsecond): the clock, but strictly later than the last
    this process gave, so two answers of one process never share one (an answer's row is named by its requester,
    this moment and its correlation UUID, ``ANSWER_KEY``: two answers sharing all three would be kept as one, the
    second's answer sent with no row). Two processes answering one requester with one UUID in one microsecond still
    would (docs/partner-verification.md). A clock stepped back by up to ``STEP_BACK`` holds answers a microsecond
    apart until it catches up; stepped back further (a reading far ahead, since corrected), the clock is believed
    again at once: the signed timestamps and the oracle guard's hour follow the corrected clock, and the rows
    keep apart by their readings, no longer in order."""

    STEP_BACK = timedelta(seconds=1)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def __call__(self) -> datetime:
        now = utcnow()
        with self._lock:
            if now <= self._last and self._last - now < self.STEP_BACK:
                now = self._last + timedelta(microseconds=1)
            elif now <= self._last:
                logging.getLogger("passport").warning(
                    "the clock went back %s: partner answers follow it", self._last - now
                )
            self._last = now
        return now


answer_time = _AnswerClock()  # the one of this process: every partner desk (runtime) of it asks it


class KeepFailed(Exception):
    """The transaction that was to keep this answer failed (its cause attached); the answer was not sent."""


@dataclass(eq=False, slots=True)
class _Waiting:
    kept: KeptAnswer
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    tried: bool = False  # the one statement was tried on the loop and wrote nothing: the threads go straight on
    unsure: bool = False  # a try of it failed (a connection lost, a timeout, any error), so it may have been committed
    refused_in: _Try | None = None  # the try that refused it and raised its alert, if that try may have committed
    inserted_by: _Try | None = None  # the last try that inserted it (set before that try's commit)


@dataclass(eq=False, slots=True)
class _Try:
    """One transaction of the threads: the answers it inserted (each marks it as its ``inserted_by``) tell whether
    it committed, if its outcome was not known, and so whether the alert it counted for its refusals stands."""

    inserted: list[_Waiting]


@dataclass(eq=False)
class _OnLoop:
    """PostgreSQL: one event loop's share: the answers waiting for its next statement, the task sending them, and
    its connection."""

    inserts: LoopInserts
    waiting: list[_Waiting] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None


@dataclass(eq=False, slots=True)
class _Batch:
    waiting: list[_Waiting]
    seen: int  # answers in it when the linger was last armed
    until: float  # monotonic: handed over by then at the latest


class AnswerKeeper:
    """``await keep(answer)`` returns once the answer is committed, or raises ``RateLimited`` (the oracle guard) or
    ``KeepFailed``. The writer threads start with the first answer they are given; ``close`` writes what is queued
    and stops them. ``on_loop`` (PostgreSQL's default): held groups are written from the event loop (``_send``)."""

    def __init__(self, engine: Engine, *, unheld_per_hour: int, on_loop: bool | None = None) -> None:
        self._engine = engine
        self.unheld_per_hour = unheld_per_hour
        self._queue: queue.SimpleQueue[list[_Waiting] | None] = queue.SimpleQueue()  # a batch of a loop each
        self._batches: dict[asyncio.AbstractEventLoop, _Batch] = {}  # answers gathering on each event loop
        # PostgreSQL: two writer threads, so that one group is written while the other's commit waits (its round
        # trips and the WAL flush were most of a group's 16-20 ms under load); the oracle guard's advisory locks
        # serialise their counts as they do two processes'. SQLite: one (its writers queue for one lock).
        self._postgresql = engine.dialect.name == "postgresql"
        self._writers = WRITERS_POSTGRESQL if self._postgresql else 1
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._conns: dict[int, Connection] = {}  # each writer thread's own, kept: no pool checkout, ping or reset
        # PostgreSQL: the common group is written from the event loop itself (``_send``); the threads take the rest.
        self.on_loop = self._postgresql if on_loop is None else on_loop
        self._loops: PerLoop[_OnLoop] = PerLoop(lambda: _OnLoop(LoopInserts(engine)), _let_go)
        self.groups = 0  # transactions committed (fewer than answers under load), for tests and benchmarks

    async def keep(self, kept: KeptAnswer) -> None:
        """Returns once the answer is committed (on the event loop that called it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the partner answer keeper is closed")
            if self.on_loop:
                mine = self._loops.get()
                mine.waiting.append(_Waiting(kept, loop, future))
                if mine.sender is None or mine.sender.done():  # done: cancelled before it ever ran
                    mine.sender = loop.create_task(self._send(mine))
            else:
                self._to_threads(None)
                self._gather(loop, _Waiting(kept, loop, future))
        await future  # a request cancelled meanwhile (its client gone) still has its signed answer kept

    def _to_threads(self, batch: list[_Waiting] | None) -> None:
        """Under the lock: start the writer threads if they are not running yet, and hand them ``batch``."""
        if not self._threads:
            for n in range(self._writers):
                thread = threading.Thread(target=self._run, name=f"partner answer keeper {n + 1}", daemon=True)
                thread.start()
                self._threads.append(thread)
        if batch:
            self._queue.put(batch)

    async def _send(self, mine: _OnLoop) -> None:
        """PostgreSQL, on the event loop: the first answer goes out at once, in one statement that decides and
        inserts (``insert_if_all_held``); those kept while it is in flight go together in the next. A group that
        statement does not write (an answer not held, a value it cannot carry, a connection lost or silent) goes to
        the writer threads' transaction, which decides it as it always did. Cancelled (its loop shutting down), it
        hands the group in flight and those waiting to the threads too."""
        group: list[_Waiting] = []
        try:
            while True:
                with self._lock:
                    group = mine.waiting[:MAX_GROUP]
                    del mine.waiting[:MAX_GROUP]
                if not group:
                    return
                try:
                    written = await mine.inserts.insert_if_all_held([_row_of(w.kept) for w in group])
                except Exception:
                    logging.getLogger("passport").debug("a partner group goes to the writer threads", exc_info=True)
                    for waiting in group:  # lost or silent mid-statement: it may have committed
                        waiting.unsure = True
                    written = False
                if written:
                    with self._lock:
                        self.groups += 1
                    _resolve([(waiting, None) for waiting in group])
                else:
                    self._leave_to_threads(group)
        except BaseException:
            for waiting in group:  # cancelled, perhaps with its statement in flight
                waiting.unsure = True
            with self._lock:
                rest, mine.waiting = mine.waiting, []
            self._leave_to_threads(group + rest)
            raise
        finally:
            mine.sender = None
            if self._closed:
                mine.inserts.finish()

    def _leave_to_threads(self, group: list[_Waiting]) -> None:
        """A group the loop's statement did not write goes to the writer threads (no second try of that statement
        there); once the keeper is closed, its answers fail unkept."""
        for waiting in group:
            waiting.tried = True
        with self._lock:
            if not self._closed:
                self._to_threads(group)
                return
        _resolve(
            [(waiting, KeepFailed("the partner answer keeper closed before the answer was kept")) for waiting in group]
        )

    def _gather(self, loop: asyncio.AbstractEventLoop, waiting: _Waiting) -> None:
        """Under the lock: the answer joins its loop's batch for the writer threads (see ``_hand_over``)."""
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = _Batch([], 1, time.monotonic() + MAX_LINGER_S)
            loop.call_later(LINGER_S, self._hand_over, loop)
        batch.waiting.append(waiting)

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the event loop: the answers gathered since the first of a batch go to the writer thread as one item,
        once LINGER_S passed without another joining (or MAX_LINGER_S after the first, or MAX_GROUP answers)."""
        with self._lock:
            batch = self._batches.get(loop)
            if batch is None:  # close() handed it over already
                return
            count = len(batch.waiting)
            if count > batch.seen and count < MAX_GROUP and time.monotonic() < batch.until:
                batch.seen = count  # company came: linger again
                loop.call_later(LINGER_S, self._hand_over, loop)
                return
            del self._batches[loop]
            self._queue.put(batch.waiting)

    def close(self) -> None:
        """Write every answer queued so far, then stop the writer threads."""
        with self._lock:
            self._closed = True
            for batch in self._batches.values():  # gathered on a loop, not handed over yet
                self._queue.put(batch.waiting)
            self._batches.clear()
            for mine in self._loops.shares():  # waiting for their loop's next statement: written by the threads
                if mine.waiting:
                    self._to_threads(mine.waiting)
                    mine.waiting = []
                if mine.sender is None:  # else its statement is in flight: the sender closes it when done
                    mine.inserts.finish()
            threads = list(self._threads)
            for _ in threads:
                self._queue.put(None)  # one each: a thread stops at the first it takes
        for thread in threads:
            thread.join()

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            conn = self._conns.pop(threading.get_ident(), None)
            if conn is not None:
                conn.close()

    def _serve(self) -> None:
        carry: list[_Waiting] = []  # what did not fit in the last group: the first of the next one
        stopping = False
        while True:
            if carry:
                first = carry
            elif stopping:
                return
            else:
                taken = self._queue.get()
                if taken is None:
                    return
                first = taken
            # What the loops handed over while the last group was written joins this one: the thread wakes once
            # per group (each wake-up takes the GIL from the event loop), not once per answer or linger step. A
            # group holds at most MAX_GROUP answers: a batch that does not fit is split, its rest written next.
            group, carry = first[:MAX_GROUP], first[MAX_GROUP:]
            while not carry and not stopping and len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                room = MAX_GROUP - len(group)
                group.extend(more[:room])
                carry = more[room:]
            self._settle(group)

    def _settle(self, group: list[_Waiting]) -> None:
        try:
            refused: dict[_Waiting, Exception] = dict(self._write(group))
        except Exception as error:
            if len(group) > 1:  # written again one by one: one bad row fails only its own request
                for waiting in group:
                    self._settle([waiting])
                return
            logging.getLogger("passport").exception("a partner answer could not be kept")
            failure = KeepFailed(f"the partner answer could not be kept: {type(error).__name__}: {error}")
            failure.__cause__ = error
            refused = {group[0]: failure}
        else:
            with self._lock:
                self.groups += 1
        by_loop: defaultdict[asyncio.AbstractEventLoop, list[tuple[_Waiting, Exception | None]]] = defaultdict(list)
        for waiting in group:
            by_loop[waiting.loop].append((waiting, refused.get(waiting)))
        for loop, outcomes in by_loop.items():  # one wake-up of each loop for the whole group
            try:
                loop.call_soon_threadsafe(_resolve, outcomes)
            except RuntimeError:  # its loop is closed: nobody waits any more
                pass

    def _connection(self) -> Connection:
        conn = self._conns.get(threading.get_ident())
        if conn is None:
            conn = self._conns[threading.get_ident()] = self._engine.connect()
            conn.execution_options(**WRITE_OPTIONS)
        return conn

    def _write(self, group: list[_Waiting]) -> dict[_Waiting, RateLimited]:
        for attempt in (1, 2):
            try:
                return self._write_once(group)
            except Exception as error:
                for waiting in group:  # its outcome is not known: every later try of these answers looks them up
                    waiting.unsure = True
                # a connection found lost is replaced and the group written once more
                if attempt == 2 or not (isinstance(error, DBAPIError) and error.connection_invalidated):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_once(self, group: list[_Waiting]) -> dict[_Waiting, RateLimited]:
        """Write the group. An answer ``unsure`` may be stored already (a try of it failed, perhaps around its
        commit); every insert leaves an answer already stored as it is, and in the oracle guard's transaction such
        answers are looked up (only then: one statement), after the group's requesters' locks (so a try still
        committing on the server is waited for, then seen), and are then neither counted nor refused. An answer an
        earlier try refused is refused again without a second alert if that try is found committed."""
        limit = self.unheld_per_hour
        refused: dict[_Waiting, RateLimited] = {}
        conn = self._connection()
        try:
            tried = all(w.tried for w in group)
            if self._postgresql and not tried and insert_if_all_held(conn, [_row_of(w.kept) for w in group]):
                return refused  # the common group, every requester had its unit: one round trip, committed
            with conn.begin():
                locked: list[str] = []
                alerted: set[_Try] = set()  # earlier tries found committed: their refusals were counted
                if any(w.unsure for w in group):
                    # Locks first: a try of these answers still committing holds them, and the lookup after them
                    # sees its rows (read committed: each statement its own snapshot).
                    locked = sorted({w.kept.requester_id for w in group})
                    for requester in locked:  # in one order everywhere: two processes' groups cannot deadlock
                        lock_requester(conn, requester)
                    tries = list({w.refused_in: None for w in group if w.refused_in is not None})
                    members = set(group)
                    looked = [*group, *(w for t in tries for w in t.inserted if w not in members)]
                    found = {looked[index] for index in already_stored(conn, [_row_of(w.kept) for w in looked])}
                    # A try committed if an answer it inserted is stored *by it*: a later try may have stored
                    # the same answer after this one rolled back.
                    alerted = {t for t in tries if any(w in found and w.inserted_by is t for w in t.inserted)}
                    group = [waiting for waiting in group if waiting not in found]
                asked = {(w.kept.requester_id, w.kept.unit_id) for w in group if w.kept.held is None}
                had = held_pairs(conn, {(org, unit) for org, unit in asked if unit is not None})
                held = [
                    w.kept.held if w.kept.held is not None else (w.kept.requester_id, w.kept.unit_id) in had
                    for w in group
                ]
                counted = sorted({w.kept.requester_id for w, h in zip(group, held, strict=True) if not h})
                unheld: dict[str, int] = {}
                for requester in counted:  # in one order everywhere: two processes' groups cannot deadlock
                    if not locked:
                        lock_requester(conn, requester)
                    since = min(w.kept.requested_at for w in group if w.kept.requester_id == requester)
                    unheld[requester] = unheld_since(conn, requester, since - ORACLE_WINDOW)
                rows = []
                inserted: list[_Waiting] = []
                for waiting, is_held in zip(group, held, strict=True):
                    kept = waiting.kept
                    if not is_held:
                        if unheld[kept.requester_id] >= limit:
                            refused[waiting] = _refusal(limit)
                            continue
                        unheld[kept.requester_id] += 1
                    row = _row_of(kept)
                    rows.append(row if row[_HELD] is is_held else (*row[:_HELD], is_held, *row[_HELD + 1 :]))
                    inserted.append(waiting)
                insert_answers(conn, rows)
                this_try = _Try(inserted)
                for waiting in inserted:  # before the commit: its outcome may be lost
                    waiting.inserted_by = this_try
                alerts = [w for w in refused if w.refused_in is None or w.refused_in not in alerted]
                if alerts:
                    with Session(bind=conn) as session:
                        for waiting in alerts:
                            _alert(session, waiting.kept, limit)
                            waiting.refused_in = this_try  # set before the commit: its outcome may be lost
                        session.flush()
        except Exception:
            if conn.invalidated or conn.closed:  # lost (the server restarted, say): the next group reconnects
                conn.close()
                self._conns.pop(threading.get_ident(), None)
            raise
        return refused


def _let_go(mine: _OnLoop) -> None:
    mine.inserts.finish()


def _resolve(outcomes: list[tuple[_Waiting, Exception | None]]) -> None:
    for waiting, error in outcomes:
        if waiting.future.done():
            continue
        if error is None:
            waiting.future.set_result(None)
        else:
            waiting.future.set_exception(error)


def _refusal(limit: int) -> RateLimited:
    return RateLimited(
        f"more than {limit} verifications of units your organisation never held within an hour",
        retry_after=int(ORACLE_WINDOW.total_seconds()),
    )


def _alert(session: Session, kept: KeptAnswer, limit: int) -> None:
    raise_alert(
        session,
        type_=AlertType.VERIFICATION_ORACLE,
        severity=SEVERITY[AlertType.VERIFICATION_ORACLE],
        at=kept.requested_at,
        org_id=kept.requester_id,
        gtin=kept.gtin,
        serial=kept.requester_id[:20],  # one open alert per requester and GTIN, counting its refusals
        details={"requester": kept.requester_id, "limit_per_hour": limit},
    )
