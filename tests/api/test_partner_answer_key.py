"""One kept partner answer, one row (migration 0029, ``uq_partner_verification_answer``): every insert path stores a
group written again (the retry after a commit whose reply was lost) once and raises nothing, the oracle guard
neither counts nor refuses what was stored already, and the migration removes the copies stored before it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import IntegrityError

from app.cli import alembic_config
from app.db.engine import make_engine
from app.db.models import Alert, PartnerVerification
from app.db.partner_rows import (
    ANSWER_COLUMNS,
    LoopInserts,
    already_stored,
    insert_answers,
    insert_if_all_held,
    lock_requester,
    staged_table,
)
from app.services import partner_desk, partner_keeper
from app.services.clock import utcnow
from app.services.partner_keeper import AnswerKeeper, KeptAnswer, _AnswerClock, _row_of, _Waiting
from app.services.runtime import Runtime
from tests.helpers import BASE_URL, seed_lots
from tests.helpers import partner_answer as answer


def stored(runtime: Runtime, answers: list[KeptAnswer]) -> list[tuple[str, str]]:
    """(requester, correlation UUID) of every row kept for these answers' UUIDs, in the order stored."""
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(PartnerVerification.requester_id, PartnerVerification.correlation_uuid)
            .where(PartnerVerification.correlation_uuid.in_({k.correlation_uuid for k in answers}))
            .order_by(PartnerVerification.id)
        )
        return [tuple(row) for row in rows]


def keys(answers: list[KeptAnswer]) -> list[tuple[str, str]]:
    return [(k.requester_id, k.correlation_uuid) for k in answers]


def transaction_insert(runtime: Runtime, answers: list[KeptAnswer]) -> None:
    """The writer threads' insert (COPY through the scratch table on PostgreSQL, VALUES on SQLite), committed."""
    with runtime.engine.begin() as conn:
        insert_answers(conn, [_row_of(k) for k in answers])


def test_the_threads_insert_stores_a_group_written_again_once(runtime, make_org):
    org = make_org("distributor", "drug_wholesale")
    group = [answer(org.id) for _ in range(3)]
    group.append(replace(answer(org.id), request={"path": "/01/x", "query": "", "error": "\x00"}))  # COPY's own case
    transaction_insert(runtime, group)
    transaction_insert(runtime, group)  # the retry after a lost commit: no error
    assert stored(runtime, group) == keys(group)
    later = [answer(org.id)]
    transaction_insert(runtime, [*group, *later])  # a group part stored, part new: the new rows only
    assert stored(runtime, [*group, *later]) == keys([*group, *later])


def test_the_same_correlation_uuid_in_another_request_is_another_answer_and_kept(runtime, make_org):
    """The UUID is the requester's, echoed: sent again (at another moment, or by another requester) it is a new
    answer, signed anew, and is kept; only the very same row is a copy."""
    org, other = make_org("distributor", "drug_wholesale"), make_org("retailer", "drug_retail")
    first = answer(org.id)
    again = replace(first, requested_at=first.requested_at + timedelta(microseconds=1), context="dscsaSaleableReturn")
    elsewhere = replace(first, requester_id=other.id)
    transaction_insert(runtime, [first, again, elsewhere])
    assert stored(runtime, [first]) == keys([first, again, elsewhere])


def test_a_copy_inserted_without_the_keepers_statements_is_refused(runtime, make_org):
    """The unique index itself, not only the inserts' ON CONFLICT: a plain INSERT of a copy fails."""
    org = make_org("distributor", "drug_wholesale")
    kept = answer(org.id)
    transaction_insert(runtime, [kept])
    row = {name: value for name, value in zip(_FIELDS, _row_of(kept), strict=True)}
    row["answer"] = json.loads(kept.answer)
    with pytest.raises(IntegrityError), runtime.engine.begin() as conn:
        conn.execute(PartnerVerification.__table__.insert(), [row])
    assert stored(runtime, [kept]) == keys([kept])


_FIELDS = tuple(f.name for f in KeptAnswer.__dataclass_fields__.values())


@pytest.mark.postgres_only
def test_the_one_statement_stores_a_group_sent_again_once_from_a_thread_and_from_the_loop(runtime, make_org):
    org = make_org("distributor", "drug_wholesale")
    group = [answer(org.id) for _ in range(4)]
    rows = [_row_of(k) for k in group]
    with runtime.engine.connect() as conn:
        assert insert_if_all_held(conn, rows) is True
        assert insert_if_all_held(conn, rows) is True  # the statement sent again: no error, nothing more
    inserts = LoopInserts(runtime.engine)

    async def twice() -> list[bool]:
        return [await inserts.insert_if_all_held(rows), await inserts.insert_if_all_held(rows)]

    try:
        assert asyncio.run(twice()) == [True, True]
    finally:
        inserts.finish()
    assert stored(runtime, group) == keys(group)


def _waiting(answers: list[KeptAnswer], loop: asyncio.AbstractEventLoop, **flags: bool) -> list[_Waiting]:
    return [_Waiting(k, loop, loop.create_future(), **flags) for k in answers]


@pytest.mark.parametrize("how", ["a retry of the threads", "the loop's statement failed"])
def test_a_group_stored_then_written_again_is_neither_counted_nor_refused_by_the_oracle_guard(runtime, make_org, how):
    """Two answers about units never held, at a limit of two an hour: stored, then written again by the threads'
    transaction as after a lost commit (their retry, or the loop's statement lost mid-flight). Both come back kept,
    not refused, once each, and no oracle alert is raised; a third new answer in the same group is refused."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    group = [answer(org.id, held=False) for _ in range(2)]
    loop = asyncio.new_event_loop()
    try:
        assert keeper._write_once(_waiting(group, loop)) == {}
        assert stored(runtime, group) == keys(group)
        if how == "a retry of the threads":
            again = _waiting(group, loop, unsure=True)
        else:
            again = _waiting(group, loop, tried=True, unsure=True)
        extra = _waiting([answer(org.id, held=False)], loop)
        refused = keeper._write_once([*again, *extra])
    finally:
        loop.close()
    assert list(refused) == extra  # the new one is over the limit; the two stored are not refused
    assert stored(runtime, group) == keys(group)
    assert stored(runtime, [extra[0].kept]) == []
    with runtime.sessions() as session:
        alerts = session.scalars(select(Alert.count).where(Alert.type == "verification_oracle")).all()
    assert alerts == [1]  # the one refusal


def oracle_alerts(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Alert.count).where(Alert.type == "verification_oracle")))


@contextmanager
def connections_lost(engine: Engine, times: int, statement_of: Callable[[str], bool]) -> Iterator[list[str]]:
    """The first ``times`` statements of this thread that ``statement_of`` picks find their connection closed under
    them (the driver's own connection closed, as a lost one is: SQLAlchemy sees it invalidated)."""
    me, lost = threading.get_ident(), []

    def lose(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.get_ident() == me and len(lost) < times and statement_of(statement):
            lost.append(statement)
            cursor.connection.close()

    event.listen(engine, "before_cursor_execute", lose)
    try:
        yield lost
    finally:
        event.remove(engine, "before_cursor_execute", lose)


def settle(keeper: AnswerKeeper, group: list[_Waiting], loop: asyncio.AbstractEventLoop) -> list[Any]:
    """The writer thread's whole handling of a group (its retry, then one answer at a time), and each outcome."""
    keeper._settle(group)
    return loop.run_until_complete(asyncio.gather(*(w.future for w in group), return_exceptions=True))


def test_answers_stored_by_a_try_whose_retry_failed_too_are_neither_counted_nor_refused_one_by_one(runtime, make_org):
    """A group committed, its reply lost; its retry loses its connection too, so the writer writes the answers one
    at a time: each is known to be perhaps stored (the flag is the answer's, not the attempt's), looked up, and comes
    back kept, not refused by a count that includes itself."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    group = [answer(org.id, held=False) for _ in range(2)]
    loop = asyncio.new_event_loop()
    try:
        assert keeper._write_once(_waiting(group, loop)) == {}  # the try that committed
        again = _waiting(group, loop, tried=True)  # ... written again as if its commit's reply had been lost
        with connections_lost(keeper._engine, 2, lambda sql: not sql.startswith("BEGIN")) as lost:
            outcomes = settle(keeper, again, loop)
        assert len(lost) == 2  # the group's try and its retry
    finally:
        loop.close()
    assert outcomes == [None, None]
    assert all(w.unsure for w in again)
    assert stored(runtime, group) == keys(group)
    assert oracle_alerts(runtime) == []


def test_a_refusal_written_again_after_its_commit_is_not_counted_twice_on_the_alert(runtime, make_org):
    """Three answers never held at a limit of two: the third refused, its alert counted once. The same group written
    again as after a lost reply: refused again, the two stored left alone, and the alert not counted again (the try
    that refused it is found committed, by the answers it stored)."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    group = [answer(org.id, held=False) for _ in range(3)]
    loop = asyncio.new_event_loop()
    try:
        waiting = _waiting(group, loop, tried=True)
        assert list(keeper._write_once(waiting)) == waiting[2:]
        assert oracle_alerts(runtime) == [1]
        for w in waiting:
            w.unsure = True
        assert list(keeper._write_once(waiting)) == waiting[2:]
    finally:
        loop.close()
    assert stored(runtime, group) == keys(group[:2])
    assert oracle_alerts(runtime) == [1]


def test_a_refusal_whose_try_rolled_back_is_counted_on_the_retry(runtime, make_org):
    """Four answers never held at a limit of two: the try refuses the last two and its connection is lost at the
    second's alert, so nothing of it is kept. The retry refuses them again and counts both on the alert."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    group = [answer(org.id, held=False) for _ in range(4)]
    alert_inserts = iter(range(2))
    loop = asyncio.new_event_loop()
    try:
        waiting = _waiting(group, loop, tried=True)
        picks = lambda sql: sql.startswith("INSERT INTO alert") and next(alert_inserts, 2) == 1  # noqa: E731
        with connections_lost(keeper._engine, 1, picks) as lost:
            outcomes = settle(keeper, waiting, loop)
        assert len(lost) == 1
    finally:
        loop.close()
    assert outcomes[:2] == [None, None] and [type(o).__name__ for o in outcomes[2:]] == ["RateLimited"] * 2
    assert stored(runtime, group) == keys(group[:2])
    assert oracle_alerts(runtime) == [2]


@pytest.mark.postgres_only
def test_a_retry_waits_for_a_try_still_committing_then_neither_counts_nor_refuses_its_answers(runtime, make_org):
    """The try's transaction (its requester's lock and rows) is still open on the server when the retry starts: the
    retry waits on the lock, then looks its answers up and finds them, so it neither counts nor refuses them. Looked
    up before the lock, they were missed, then counted once the try committed: both refused, the alert raised."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    group = [answer(org.id, held=False) for _ in range(2)]
    loop = asyncio.new_event_loop()
    first_try = runtime.engine.connect()
    result: dict[str, Any] = {}

    def retry() -> None:
        result["refused"] = keeper._write_once(_waiting(group, loop, tried=True, unsure=True))

    thread = threading.Thread(target=retry)
    try:
        transaction = first_try.begin()
        lock_requester(first_try, org.id)
        insert_answers(first_try, [_row_of(k) for k in group])
        thread.start()
        with runtime.engine.connect() as watch:  # until the retry waits for the lock the try holds
            waits = text(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
            )
            deadline = time.monotonic() + 60  # a regression that never waits on this lock fails, not hangs
            waiting_for_it = False
            while thread.is_alive() and time.monotonic() < deadline:
                waiting_for_it = bool(watch.scalar(waits))
                watch.rollback()
                if waiting_for_it:
                    break
                time.sleep(0.01)
        assert thread.is_alive() and waiting_for_it  # it waits for the try's lock, not finished
        transaction.commit()
    finally:
        first_try.close()
        thread.join()
        loop.close()
    assert result == {"refused": {}}
    assert stored(runtime, group) == keys(group)
    assert oracle_alerts(runtime) == []


def test_already_stored_names_the_rows_by_their_answer_key(runtime, make_org):
    org = make_org("distributor", "drug_wholesale")
    first, second = answer(org.id), answer(org.id)
    transaction_insert(runtime, [first])
    moved = replace(first, requested_at=first.requested_at + timedelta(microseconds=1))
    with runtime.engine.connect() as conn:
        assert already_stored(conn, [_row_of(k) for k in (second, first, moved)]) == {1}
        assert already_stored(conn, []) == set()


def test_the_scratch_table_is_named_after_the_columns_it_holds():
    """Behind PgBouncer a server connection keeps a session's temporary table across deploys: a table of another
    shape must have another name, or COPY would go into the old one."""
    types = ["TEXT"] * len(ANSWER_COLUMNS)
    name = staged_table(ANSWER_COLUMNS, types)
    assert name == staged_table(list(ANSWER_COLUMNS), list(types))  # the same shape, the same table
    assert name.startswith("partner_verification_in_") and len(name) <= 63  # PostgreSQL's identifiers
    assert staged_table(ANSWER_COLUMNS[:-1], types[:-1]) != name  # a column less
    assert staged_table((*ANSWER_COLUMNS, "origin"), (*types, "TEXT")) != name  # a column more
    assert staged_table(ANSWER_COLUMNS, ["JSON", *types[1:]]) != name  # a type changed


@pytest.mark.postgres_only
def test_a_scratch_table_of_another_shape_left_on_the_session_is_not_used(runtime, make_org):
    """A server connection that served older code still holds its scratch tables: one under the fixed name used
    before the names were hashed and one of another shape (both without ``held``). The insert makes and fills a
    table of its own."""
    org = make_org("distributor", "drug_wholesale")
    group = [answer(org.id) for _ in range(2)]
    columns = [name for name in ANSWER_COLUMNS if name != "held"]
    with runtime.engine.begin() as conn:
        for old in ("partner_verification_in", staged_table(columns, ["TEXT"] * len(columns))):
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {old} ON COMMIT DELETE ROWS AS "
                f"SELECT {', '.join(columns)}, 0 AS ord FROM partner_verification WITH NO DATA"
            )
        insert_answers(conn, [_row_of(k) for k in group])
    assert stored(runtime, group) == keys(group)


def test_the_answer_clock_gives_each_answer_of_a_process_its_own_microsecond(monkeypatch):
    """The clock read twice in one microsecond, or stepped back: each answer still gets a moment of its own, the
    next microsecond after the last; once the clock is ahead again, its own reading."""
    clock = _AnswerClock()
    now = [T0]
    monkeypatch.setattr(partner_keeper, "utcnow", lambda: now[0])
    tick = timedelta(microseconds=1)
    assert [clock(), clock(), clock()] == [T0, T0 + tick, T0 + 2 * tick]
    now[0] = T0 - timedelta(milliseconds=500)  # stepped back, by less than STEP_BACK
    assert clock() == T0 + 3 * tick
    now[0] = T0 + timedelta(seconds=1)
    assert clock() == T0 + timedelta(seconds=1)


def test_the_answer_clock_follows_a_clock_corrected_back_by_more_than_a_step(monkeypatch):
    """One reading far ahead (a clock stepped forward by a year, then corrected) must not pin every later answer to
    that moment: the signed timestamps and the oracle guard's hour would stop following time. Past ``STEP_BACK``
    the clock is believed again."""
    clock = _AnswerClock()
    now = [T0 + timedelta(days=365)]
    monkeypatch.setattr(partner_keeper, "utcnow", lambda: now[0])
    assert clock() == T0 + timedelta(days=365)
    now[0] = T0
    assert clock() == T0
    assert clock() == T0 + timedelta(microseconds=1)  # and kept apart again from there


def test_two_requests_with_one_uuid_answered_in_one_microsecond_are_both_kept(
    client, runtime, batch, issue, make_org, monkeypatch
):
    """One requester sends one correlation UUID twice and the clock reads the same microsecond for both: two answers
    sent, two rows kept (the second a microsecond later), not one row for two answers."""
    org = make_org("distributor", "drug_wholesale")
    [code] = issue(batch["id"], 1)
    frozen = utcnow()
    monkeypatch.setattr(partner_keeper, "utcnow", lambda: frozen)
    monkeypatch.setattr(partner_desk, "utcnow", lambda: frozen, raising=False)  # where the desk read it before
    correlation = str(uuid.uuid4())
    bodies = []
    for context in ("statusCheck", "dscsaSaleableReturn"):
        path = code["uri"].replace(BASE_URL, "").split("&8030=")[0]  # as a partner's scanner sends it
        joiner = "&" if "?" in path else "?"
        query = f"linkType=gs1:verificationService&context={context}&correlationUUID={correlation}"
        response = client.get(f"{path}{joiner}{query}", headers=org.headers)
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(PartnerVerification.context, PartnerVerification.requested_at)
            .where(PartnerVerification.correlation_uuid == correlation)
            .order_by(PartnerVerification.id)
        ).all()
    assert [context for context, _ in rows] == ["statusCheck", "dscsaSaleableReturn"]
    assert rows[1].requested_at - rows[0].requested_at == timedelta(microseconds=1)
    assert [b["context"] for b in bodies] == ["statusCheck", "dscsaSaleableReturn"]


def test_a_refusal_of_a_rolled_back_try_counts_on_the_alert_after_the_answers_are_written_one_by_one(runtime, make_org):
    """A try refuses two answers (alert counted) and is lost at its commit, in fact rolled back; the retry is lost
    too, so the answers are written one at a time, the try's other answers first. Those rows are then stored by the
    later writes, not by the lost try: they must not be taken as proof that the lost try committed, or its
    refusals would never count on the alert. (Found by review.)"""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    group = [answer(org.id, held=False) for _ in range(4)]
    state = {"alerts": 0, "lost": 0}

    def picks(sql: str) -> bool:
        if state["lost"] == 0:
            if sql.startswith("INSERT INTO alert"):
                state["alerts"] += 1
                if state["alerts"] == 2:  # the first try lost at its second alert's insert: rolled back
                    state["lost"] = 1
                    return True
            return False
        if state["lost"] == 1 and not sql.startswith("BEGIN"):  # the retry lost at its first statement
            state["lost"] = 2
            return True
        return False

    loop = asyncio.new_event_loop()
    try:
        waiting = _waiting(group, loop, tried=True)
        with connections_lost(keeper._engine, 2, picks) as lost:
            outcomes = settle(keeper, waiting, loop)
        assert len(lost) == 2
    finally:
        loop.close()
    assert outcomes[:2] == [None, None]
    assert [type(o).__name__ for o in outcomes[2:]] == ["RateLimited"] * 2
    assert stored(runtime, group) == keys(group[:2])
    assert oracle_alerts(runtime) == [2]  # two refusals, and nothing of the first try committed


# The migration: copies stored before it are removed (the first kept), and the downgrade drops the index.

T0 = datetime(2026, 12, 5, 9, 30, 0, 123456, tzinfo=UTC)
UUIDS = [str(uuid.UUID(int=n)) for n in range(1, 4)]


def _rows_at_0028() -> list[dict[str, Any]]:
    """Six answers of two requesters in nine rows: the first answer stored three times (ids 1, 3, 7), the second
    twice (2, 4)."""

    def row(requester: str, correlation: str, at: datetime) -> dict[str, Any]:
        return {
            "requester_id": requester,
            "manufacturer_id": "m1",
            "gtin": "09506000134352",
            "serial": "S1",
            "unit_id": None,
            "context": "statusCheck",
            "correlation_uuid": correlation,
            "verified": True,
            "held": True,
            "request": {"path": "/01/x", "query": "", "error": None},
            "answer": {"correlationUUID": correlation, "at": at.isoformat()},
            "requested_at": at,
        }

    later = T0 + timedelta(microseconds=1)
    answers = [
        row("d1", UUIDS[0], T0),
        row("d1", UUIDS[1], T0),
        row("d1", UUIDS[0], later),  # the same UUID sent again a microsecond later: another answer
        row("r1", UUIDS[0], T0),  # ... and by another requester
        row("r1", UUIDS[2], T0),
        row("d1", UUIDS[2], later),
    ]
    first, second, *rest = answers
    return [first, second, first, second, rest[0], rest[1], first, rest[2], rest[3]]


def _answer_rows(url: str) -> list[tuple[int, str, str, datetime]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            table = PartnerVerification.__table__
            query = select(table.c.id, table.c.requester_id, table.c.correlation_uuid, table.c.requested_at)
            return [tuple(r) for r in conn.execute(query.order_by(table.c.id))]
    finally:
        engine.dispose()


def _insert(url: str, rows: list[dict[str, Any]]) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(PartnerVerification.__table__.insert(), rows)
    finally:
        engine.dispose()


def _unique_index(url: str) -> list[str] | None:
    engine = make_engine(url)
    try:
        indexes = sa.inspect(engine).get_indexes("partner_verification")
    finally:
        engine.dispose()
    [found] = [i for i in indexes if i["name"] == "uq_partner_verification_answer"] or [None]
    return None if found is None else [*found["column_names"], "unique" if found["unique"] else "not unique"]


def _at_0028_with_copies(url: str) -> None:
    """A database at 0028 with the organisations and lot the answers name, and ``_rows_at_0028`` stored."""
    command.upgrade(alembic_config(url), "0028")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            seed_lots(conn, T0, issued=1, orgs=(("d1", "distributor"), ("r1", "retailer")))
    finally:
        engine.dispose()
    _insert(url, _rows_at_0028())


def test_0029_removes_the_copies_keeping_the_first_and_downgrades(empty_database_url):
    url = empty_database_url
    _at_0028_with_copies(url)
    before = _answer_rows(url)
    assert len(before) == 9
    command.upgrade(alembic_config(url), "0029")

    after = _answer_rows(url)
    firsts: dict[tuple[str, str, datetime], int] = {}
    for id_, requester, correlation, at in before:
        firsts.setdefault((requester, correlation, at), id_)
    assert [r[0] for r in after] == sorted(firsts.values()) == [1, 2, 5, 6, 8, 9]  # the first of each answer kept
    assert _unique_index(url) == ["requester_id", "requested_at", "correlation_uuid", "unique"]
    copy = _rows_at_0028()[0]
    with pytest.raises(IntegrityError):
        _insert(url, [copy])
    _insert(url, [{**copy, "requested_at": T0 + timedelta(seconds=1)}])  # another moment: another answer

    command.downgrade(alembic_config(url), "0028")
    assert _unique_index(url) is None
    _insert(url, [copy])  # nothing refuses a copy any more
    assert len(_answer_rows(url)) == 8
    command.upgrade(alembic_config(url), "head")  # and the upgrade removes it again
    assert len(_answer_rows(url)) == 7
    assert _unique_index(url) == ["requester_id", "requested_at", "correlation_uuid", "unique"]


@pytest.mark.postgres_only
def test_0029_builds_again_after_an_interrupted_run_left_an_invalid_index(empty_database_url):
    """A build CONCURRENTLY that failed leaves an invalid index behind; the migration drops it and builds anew."""
    url = empty_database_url
    _at_0028_with_copies(url)
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            with pytest.raises(IntegrityError):  # the copies are still there: the build fails, the index invalid
                conn.execute(
                    text(
                        "CREATE UNIQUE INDEX CONCURRENTLY uq_partner_verification_answer "
                        "ON partner_verification (requester_id, requested_at, correlation_uuid)"
                    )
                )
            assert conn.scalar(
                text(
                    "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = 'uq_partner_verification_answer'::regclass"
                )
            )
        command.upgrade(alembic_config(url), "0029")
        with engine.connect() as conn:
            assert conn.scalar(
                text("SELECT indisvalid FROM pg_index WHERE indexrelid = 'uq_partner_verification_answer'::regclass")
            )
            assert conn.scalar(select(func.count()).select_from(PartnerVerification)) == 6
    finally:
        engine.dispose()
