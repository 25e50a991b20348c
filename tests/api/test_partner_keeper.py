"""The partner answer keeper (app/services/partner_keeper.py): answers committed a group at a time, each request
answered only once its row is kept, nothing lost at shutdown, one bad row failing only its own request, and the
oracle guard holding exactly when requests race (in one process, across two, and over HTTP)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.db import partner_rows
from app.db.models import Alert, PartnerVerification
from app.db.partner_rows import LOOP_APPLICATION_NAME
from app.domain.errors import RateLimited
from app.main import create_app
from app.services import partner_keeper
from app.services.clock import utcnow
from app.services.partner_keeper import AnswerKeeper, KeepFailed, KeptAnswer
from app.services.runtime import Runtime
from tests.helpers import BASE_URL, race, serving, settings_for
from tests.helpers import partner_answer as answer


def kept_rows(runtime: Runtime, correlations: list[str] | None = None) -> list[PartnerVerification]:
    with runtime.sessions() as session:
        query = select(PartnerVerification).order_by(PartnerVerification.id)
        if correlations is not None:
            query = query.where(PartnerVerification.correlation_uuid.in_(correlations))
        return list(session.scalars(query))


def oracle_alert_count(runtime: Runtime, requester_id: str) -> int:
    with runtime.sessions() as session:
        counts = session.scalars(
            select(Alert.count).where(Alert.type == "verification_oracle", Alert.org_id == requester_id)
        ).all()
    return sum(counts)


class Writers:
    """Stands in the keeper's writer threads' way (wraps ``_write``): records which thread took each group and its
    size, holds every group while ``gate`` is shut, and, after ``meet(n)``, holds the next n groups until n writer
    threads hold one each, so that the test, not the scheduler, decides which writer takes which batch. Every group
    goes to the threads (on PostgreSQL the event loop would write a held group itself: ``on_loop`` off)."""

    def __init__(self, keeper: AnswerKeeper) -> None:
        keeper.on_loop = False
        self.groups: list[tuple[int, int]] = []  # (writer thread, answers), in the order the writers took them
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        self._barrier: threading.Barrier | None = None
        self._meeting = 0
        inner = keeper._write

        def write(group: list[Any]) -> Any:
            with self._lock:
                self.groups.append((threading.get_ident(), len(group)))
                barrier = self._barrier if self._meeting > 0 else None
                self._meeting -= 1
            if barrier is not None:
                barrier.wait(timeout=60)
            assert self.gate.wait(timeout=60)
            return inner(group)

        keeper._write = write  # type: ignore[method-assign]

    def meet(self, count: int) -> None:
        with self._lock:
            self._barrier, self._meeting = threading.Barrier(count), count


def on_a_loop(keeper: AnswerKeeper, answers: list[KeptAnswer]) -> tuple[threading.Thread, list[Any]]:
    """Keep the answers from an event loop of their own, in a thread (as one batch: they all join before its
    linger ends); the outcomes are in the list once the thread is joined."""
    outcomes: list[Any] = []

    def run() -> None:
        async def crowd() -> list[Any]:
            return await asyncio.gather(*(keeper.keep(k) for k in answers), return_exceptions=True)

        outcomes.extend(asyncio.run(crowd()))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcomes


def wait_until(condition: Any) -> None:
    """Wait for the writer threads to reach a state (no timing asserted: the deadline only stops a hang)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the keeper's writers never got there"
        time.sleep(0.001)


def one_batch_on_each_writer(keeper: AnswerKeeper, writers: Writers, batches: list[list[KeptAnswer]]) -> list[Any]:
    """Hand the first batches over one at a time, each once the last was taken, while the writers that took them
    wait for each other: every writer thread takes one of them and they write at the same moment. The other
    batches follow at once. Returns every outcome, in the batches' order."""
    count = keeper._writers
    assert len(batches) >= count
    writers.meet(count)
    started = len(writers.groups)
    running = []
    for index, batch in enumerate(batches):
        running.append(on_a_loop(keeper, batch))
        if index < count:
            wait_until(lambda index=index: len(writers.groups) > started + index)
    outcomes: list[Any] = []
    for thread, results in running:
        thread.join(120)
        outcomes.extend(results)
    return outcomes


def test_each_answer_returns_once_its_row_is_committed_and_a_crowd_shares_transactions(runtime, make_org):
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    answers = [answer(org.id) for _ in range(60)]
    seen_committed: list[bool] = []

    async def one(kept: KeptAnswer) -> None:
        await keeper.keep(kept)
        # read through another connection: the row must already be there, committed
        seen_committed.append(len(kept_rows(runtime, [kept.correlation_uuid])) == 1)

    async def crowd() -> None:
        await asyncio.gather(*(one(kept) for kept in answers))

    asyncio.run(crowd())
    assert seen_committed == [True] * 60
    rows = kept_rows(runtime)
    assert [r.correlation_uuid for r in rows] == [k.correlation_uuid for k in answers]  # in arrival order
    assert rows[0].answer == json.loads(answers[0].answer) and rows[0].request == answers[0].request  # JSON as given
    assert rows[0].requested_at == answers[0].requested_at and rows[0].held is True and rows[0].verified is False
    assert 1 <= keeper.groups < 60  # the crowd shared transactions


def test_close_writes_every_queued_answer_and_refuses_new_ones(settings, make_org):
    org = make_org("distributor", "drug_wholesale")
    runtime = Runtime.start(settings)
    keeper = runtime.partner_desk.keeper
    answers = [answer(org.id) for _ in range(30)]

    async def queue_then_close() -> list[Any]:
        tasks = [asyncio.create_task(keeper.keep(kept)) for kept in answers]
        await asyncio.sleep(0)  # every task has queued its answer; few (if any) are written yet
        keeper.close()  # as the server's shutdown does (Runtime.close): drains the queue, then stops the writer
        with pytest.raises(RuntimeError, match="closed"):
            await keeper.keep(answer(org.id))
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        results = asyncio.run(queue_then_close())
    finally:
        runtime.close()
    assert results == [None] * 30
    check = Runtime.start(settings)
    try:
        assert len(kept_rows(check, [k.correlation_uuid for k in answers])) == 30
    finally:
        check.close()


def test_a_row_the_database_refuses_fails_only_its_own_request(runtime, make_org):
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    good = [answer(org.id) for _ in range(5)]
    bad = answer("f" * 32)  # no such organisation: the foreign key refuses it

    async def crowd() -> list[Any]:
        return await asyncio.gather(*(keeper.keep(k) for k in [*good[:2], bad, *good[2:]]), return_exceptions=True)

    results = asyncio.run(crowd())
    assert results[:2] == [None, None] and results[3:] == [None, None, None]
    assert isinstance(results[2], KeepFailed)
    assert len(kept_rows(runtime, [k.correlation_uuid for k in good])) == 5
    assert kept_rows(runtime, [bad.correlation_uuid]) == []


@pytest.mark.postgres_only
def test_a_lost_connection_is_replaced_and_the_answer_still_kept(runtime, make_org):
    """Every writer thread connects (one answer each, handed to each in turn), every connection is killed, and every
    writer is given an answer again: each finds its connection lost, replaces it and keeps the answer."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    writers = Writers(keeper)
    first = [[answer(org.id)] for _ in range(keeper._writers)]
    assert one_batch_on_each_writer(keeper, writers, first) == [None] * keeper._writers
    assert len({thread for thread, _ in writers.groups}) == keeper._writers
    backends = {c.connection.driver_connection.info.backend_pid for c in keeper._conns.values()}  # the writers' kept
    assert len(backends) == keeper._writers == 2
    with runtime.engine.connect() as admin:
        for backend in backends:
            assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}) is True
    second = [[answer(org.id)] for _ in range(keeper._writers)]
    taken = len(writers.groups)
    assert one_batch_on_each_writer(keeper, writers, second) == [None] * keeper._writers  # no error: reconnected
    assert {thread for thread, _ in writers.groups[taken:]} == set(keeper._conns)  # each writer wrote one again
    correlations = [k.correlation_uuid for batch in first + second for k in batch]
    assert len(kept_rows(runtime, correlations)) == 2 * keeper._writers
    now = {c.connection.driver_connection.info.backend_pid for c in keeper._conns.values()}
    assert len(now) == keeper._writers and not now & backends


def test_a_group_never_holds_more_than_max_group_answers(runtime, make_org, monkeypatch):
    """Batches pile up while every writer is held; then a group takes what fits of them (an oversized batch split,
    its rest written next) and never more than MAX_GROUP answers."""
    monkeypatch.setattr(partner_keeper, "MAX_GROUP", 7)
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    writers = Writers(keeper)
    writers.gate.clear()
    running = []
    for index in range(keeper._writers):  # one answer for each writer: all of them held at the gate
        running.append(on_a_loop(keeper, [answer(org.id)]))
        wait_until(lambda index=index: len(writers.groups) == index + 1)
    sizes = [5, 5, 20, 4, 6]
    answers = [[answer(org.id) for _ in range(size)] for size in sizes]
    for batch in answers:
        running.append(on_a_loop(keeper, batch))
    wait_until(lambda: keeper._queue.qsize() == len(sizes))  # handed over, none taken
    writers.gate.set()
    outcomes = []
    for thread, results in running:
        thread.join(120)
        outcomes.extend(results)
    assert outcomes == [None] * (keeper._writers + sum(sizes))
    written = [size for _, size in writers.groups]
    assert sum(written) == keeper._writers + sum(sizes)
    assert max(written) == 7  # batches were joined up to the cap, and no further
    assert len(kept_rows(runtime, [k.correlation_uuid for batch in answers for k in batch])) == sum(sizes)


def test_the_oracle_limit_holds_exactly_when_requests_race(settings, make_org):
    prober = make_org("distributor", "drug_wholesale")
    runtime = Runtime.start(settings.model_copy(update={"partner_unheld_per_hour": 5}))
    try:
        keeper = runtime.partner_desk.keeper
        unheld = [answer(prober.id, held=False) for _ in range(40)]
        held = [answer(prober.id, held=True) for _ in range(10)]

        async def crowd() -> list[Any]:
            return await asyncio.gather(*(keeper.keep(k) for k in [*unheld, *held]), return_exceptions=True)

        results = asyncio.run(crowd())
        assert sum(r is None for r in results[:40]) == 5
        assert all(isinstance(r, RateLimited) and r.retry_after == 3600 for r in results[:40] if r is not None)
        assert results[40:] == [None] * 10  # what it held is never limited
        assert len(kept_rows(runtime, [k.correlation_uuid for k in unheld])) == 5
        assert oracle_alert_count(runtime, prober.id) == 35  # one open alert counting every refusal
    finally:
        runtime.close()


@pytest.mark.parametrize("loops", [2, 4])
def test_the_oracle_limit_holds_exactly_when_event_loops_race_on_every_writer(runtime, make_org, loops):
    """Batches from several event loops (threads), one taken by each writer thread (two on PostgreSQL, each in its
    own transaction, competing for the requester's advisory lock; one on SQLite), written at the same moment."""
    prober = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 5
    writers = Writers(keeper)
    batches = [[answer(prober.id, held=False) for _ in range(48 // loops)] + [answer(prober.id)] for _ in range(loops)]
    outcomes = one_batch_on_each_writer(keeper, writers, batches)
    assert len({thread for thread, _ in writers.groups}) == keeper._writers  # every writer wrote groups
    unheld = [r for batch in batches for r in batch if not r.held]
    results = dict(zip([k.correlation_uuid for batch in batches for k in batch], outcomes, strict=True))
    assert [results[k.correlation_uuid] for batch in batches for k in batch if k.held] == [None] * loops
    refused = [results[k.correlation_uuid] for k in unheld if results[k.correlation_uuid] is not None]
    assert len(refused) == len(unheld) - 5
    assert all(isinstance(r, RateLimited) and r.retry_after == 3600 for r in refused)
    kept = kept_rows(runtime, [k.correlation_uuid for k in unheld])
    assert len(kept) == 5 and all(results[row.correlation_uuid] is None for row in kept)
    assert oracle_alert_count(runtime, prober.id) == len(unheld) - 5  # one open alert counting every refusal


def test_an_hour_old_unheld_request_no_longer_counts(runtime, make_org):
    prober = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 2
    old = replace(answer(prober.id, held=False), requested_at=utcnow() - timedelta(hours=2))

    async def ask(*answers: KeptAnswer) -> list[Any]:
        return await asyncio.gather(*(keeper.keep(k) for k in answers), return_exceptions=True)

    assert asyncio.run(ask(old, answer(prober.id, held=False))) == [None, None]
    results = asyncio.run(ask(answer(prober.id, held=False), answer(prober.id, held=False)))
    assert results[0] is None and isinstance(results[1], RateLimited)  # the old one is outside the hour


def test_the_oracle_limit_holds_across_two_serving_processes(settings, make_org):
    """Two runtimes (as two worker processes: their own engines and keeper threads) racing for one requester."""
    prober = make_org("distributor", "drug_wholesale")
    limited = settings.model_copy(update={"partner_unheld_per_hour": 7})
    runtimes = [Runtime.start(limited), Runtime.start(limited)]
    barrier = threading.Barrier(2)
    results: list[list[Any]] = [[], []]

    def worker(index: int) -> None:
        keeper = runtimes[index].partner_desk.keeper

        async def crowd() -> list[Any]:
            return await asyncio.gather(
                *(keeper.keep(answer(prober.id, held=False)) for _ in range(25)), return_exceptions=True
            )

        barrier.wait(timeout=30)
        results[index] = asyncio.run(crowd())

    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        outcomes = results[0] + results[1]
        assert len(outcomes) == 50
        assert sum(r is None for r in outcomes) == 7
        assert all(isinstance(r, RateLimited) for r in outcomes if r is not None)
        with runtimes[0].sessions() as session:
            kept = session.scalar(
                select(func.count())
                .select_from(PartnerVerification)
                .where(PartnerVerification.requester_id == prober.id)
            )
        assert kept == 7
        assert oracle_alert_count(runtimes[0], prober.id) == 43
    finally:
        for runtime in runtimes:
            runtime.close()


def test_racing_partner_requests_over_http_get_exactly_the_limit(database_url, maker, batch, issue, make_org):
    """A real server: 24 requests about units the prober never held, at once; 4 answered (and kept), 20 refused."""
    settings = settings_for(database_url, partner_unheld_per_hour=4)
    runtime = Runtime.start(settings)
    prober = make_org("distributor", "drug_wholesale")
    [code] = issue(batch["id"], 1)
    path = code["uri"].replace(BASE_URL, "").split("&8030=")[0]

    def ask(n: int) -> Any:
        guess = path.replace(code["serial"], f"GUESS{n}")
        request = urllib.request.Request(
            f"{base}{guess}&linkType=gs1:verificationService&context=statusCheck",
            headers=prober.headers,
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        with serving(create_app(settings, runtime)) as base, ThreadPoolExecutor(24) as pool:
            statuses = race(pool, [lambda n=n: ask(n) for n in range(24)])
    finally:
        runtime.close()
    assert sorted(statuses) == [200] * 4 + [429] * 20
    check = Runtime.start(settings)
    try:
        rows = [r for r in kept_rows(check) if r.requester_id == prober.id]
        assert len(rows) == 4 and not any(r.held for r in rows)
        assert oracle_alert_count(check, prober.id) == 20
    finally:
        check.close()


def test_an_answer_whose_request_holds_a_nul_or_a_lone_surrogate_is_kept(runtime, make_org):
    """On PostgreSQL the one-statement insert cannot carry them (``insert_if_all_held`` writes nothing); the group's
    transaction stores them as it always did."""
    org = make_org("distributor", "drug_wholesale")
    odd = [
        replace(answer(org.id), request={"path": "/01/x", "query": "", "error": text}) for text in ("\x00", "\ud800")
    ]

    async def crowd() -> list[Any]:
        return await asyncio.gather(*(runtime.partner_desk.keeper.keep(k) for k in odd), return_exceptions=True)

    assert asyncio.run(crowd()) == [None, None]
    rows = kept_rows(runtime, [k.correlation_uuid for k in odd])
    assert sorted(row.request["error"] for row in rows) == sorted(["\x00", "\ud800"])


def loop_backends(runtime: Runtime) -> set[int]:
    with runtime.engine.connect() as admin:
        return set(
            admin.scalars(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": LOOP_APPLICATION_NAME},
            )
        )


@pytest.mark.postgres_only
def test_on_postgresql_the_event_loop_writes_a_held_group_and_the_threads_the_rest(runtime, make_org):
    """A group where every requester had its unit is one statement sent from the event loop (no writer thread
    starts); a group with an answer not held goes to the threads' transaction, where the oracle guard counts it."""
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    keeper.unheld_per_hour = 1
    assert keeper.on_loop
    held = [answer(org.id) for _ in range(20)]

    async def crowd(answers: list[KeptAnswer]) -> list[Any]:
        return await asyncio.gather(*(keeper.keep(k) for k in answers), return_exceptions=True)

    assert asyncio.run(crowd(held)) == [None] * 20
    assert keeper._threads == [] and 1 <= keeper.groups < 20  # written from the loop, statements shared
    assert len(kept_rows(runtime, [k.correlation_uuid for k in held])) == 20
    mixed = [answer(org.id), answer(org.id, held=False), answer(org.id, held=False)]
    results = asyncio.run(crowd(mixed))
    assert len(keeper._threads) == keeper._writers  # the threads took the group the loop's statement left
    assert results[:2] == [None, None] and isinstance(results[2], RateLimited)
    assert len(kept_rows(runtime, [k.correlation_uuid for k in mixed])) == 2


@pytest.mark.postgres_only
def test_a_lost_loop_connection_loses_no_answer_and_is_replaced(runtime, make_org):
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    answers = [answer(org.id) for _ in range(3)]

    async def one_by_one() -> list[Any]:
        outcomes = [await keeper.keep(answers[0])]
        [first] = loop_backends(runtime)  # the loop's own connection
        with runtime.engine.connect() as admin:
            assert admin.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}) is True
        wait_until(lambda: first not in loop_backends(runtime))
        outcomes.append(await keeper.keep(answers[1]))  # finds it lost: the threads keep this one
        outcomes.append(await keeper.keep(answers[2]))  # on a new connection of the loop
        [second] = loop_backends(runtime)
        assert second != first
        return outcomes

    assert asyncio.run(one_by_one()) == [None, None, None]
    assert len(kept_rows(runtime, [k.correlation_uuid for k in answers])) == 3


@pytest.mark.postgres_only
def test_close_with_a_loop_statement_in_flight_keeps_its_answers_and_closes_the_connection(settings, make_org):
    org = make_org("distributor", "drug_wholesale")
    runtime = Runtime.start(settings)
    keeper = runtime.partner_desk.keeper
    answers = [answer(org.id) for _ in range(10)]

    async def send_then_close() -> list[Any]:
        tasks = [asyncio.create_task(keeper.keep(kept)) for kept in answers[:5]]
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # the loop's sender took the first five and is connecting or in its statement
        [mine] = keeper._loops.shares()
        assert mine.sender is not None and not mine.waiting
        tasks += [asyncio.create_task(keeper.keep(kept)) for kept in answers[5:]]
        await asyncio.sleep(0)  # these five wait for the next statement
        assert len(mine.waiting) == 5
        keeper.close()  # the five waiting go to the threads; the statement in flight finishes
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        results = asyncio.run(send_then_close())
        assert results == [None] * 10
        assert len(kept_rows(runtime, [k.correlation_uuid for k in answers])) == 10
        wait_until(lambda: not loop_backends(runtime))  # the sender closed its connection when done
    finally:
        runtime.close()


@pytest.mark.postgres_only
def test_a_loop_statement_the_database_does_not_answer_in_time_goes_to_the_threads_once(runtime, make_org, monkeypatch):
    """The table locked by another transaction: the loop's statement waits past its timeout, is cancelled on the
    server, and its group goes to the writer threads, which keep it once the lock is gone: one row, not two."""
    monkeypatch.setattr(partner_rows, "TIMEOUT_S", 0.5)
    org = make_org("distributor", "drug_wholesale")
    keeper = runtime.partner_desk.keeper
    kept = answer(org.id)

    async def behind_a_lock() -> Any:
        with runtime.engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE partner_verification IN ACCESS EXCLUSIVE MODE"))
            task = asyncio.create_task(keeper.keep(kept))
            deadline = time.monotonic() + 30  # only stops a hang: the statement never gave up
            while not keeper._threads:  # the statement timed out: its group went to the threads
                assert not task.done() and time.monotonic() < deadline
                await asyncio.sleep(0.05)
            blocker.rollback()
        return await task

    assert asyncio.run(behind_a_lock()) is None
    assert len(kept_rows(runtime, [kept.correlation_uuid])) == 1
