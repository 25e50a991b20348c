"""Log sequencing without a hot row (issue 17; docs/log.md "Sequencing"). On PostgreSQL an event's leaf commits
pending and is integrated right after: concurrent single events still get dense indices, one leaf each, and a
log that verifies; a leaf left pending by a failure between the commit and the integration is integrated by the
next request, by the service's start, and by a checkpoint, in that order of the pending queue."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

import app.services.log as log_service
from app.cli import main
from app.db import lot_counters
from app.db.models import Event, LogNode, LogPending, LogState, LotCustody, LotDelta
from app.services.runtime import Runtime
from tests.helpers import assert_counted, poster, race


def _log_rows(runtime: Runtime) -> tuple[int, list[tuple[int, int | None]], int, int]:
    """(tree size, [(leaf index, event id)] by index, events, pending leaves)."""
    with runtime.sessions() as session:
        size = session.scalar(select(LogState.tree_size))
        leaves = session.execute(
            select(LogNode.index, LogNode.event_id).where(LogNode.level == 0).order_by(LogNode.index)
        ).all()
        events = session.scalar(select(func.count()).select_from(Event))
        pending = session.scalar(select(func.count()).select_from(LogPending))
    return int(size), [(int(i), e) for i, e in leaves], int(events), int(pending)


def _deltas(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(LotDelta)))


def _strand(monkeypatch, integration) -> None:
    """The sequencer busy when the event commits (its leaf goes pending), then ``integration`` in its place."""
    monkeypatch.setattr(log_service, "integrate_here", lambda _session: None)
    monkeypatch.setattr(log_service, "integrate", integration)


def _ship(client, org, code: str, to: str):
    return client.post("/v1/events", json={"action": "ship", "codes": [code], "to": to}, headers=org.headers)


@pytest.mark.postgres_only
def test_concurrent_single_events_get_dense_indices_and_the_log_verifies(
    server, http, pool, runtime, maker, batch, issue, make_org, capsys
):
    dist = make_org("distributor", "drug_wholesale")
    codes = [c["uri"] for c in issue(batch["id"], 16)]
    clients = [http() for _ in codes]
    responses = race(
        pool,
        [
            poster(c, maker, {"action": "ship", "codes": [code], "to": dist.id})
            for c, code in zip(clients, codes, strict=True)
        ],
    )
    assert [r.status_code for r in responses] == [201] * len(codes)
    results = [r.json()["results"][0] for r in responses]
    assert sorted(r["log_index"] for r in results) == list(range(len(codes)))
    size, leaves, events, pending = _log_rows(runtime)
    assert (size, pending, events) == (len(codes), 0, len(codes))
    assert [i for i, _ in leaves] == list(range(len(codes)))
    assert sorted(e for _, e in leaves) == sorted(r["event_id"] for r in results)  # one leaf per event
    assert {(r["log_index"], r["event_id"]) for r in results} == set(leaves)
    # the lot's counters took every event's change through the sequencer's batches, none left over
    assert _deltas(runtime) == 0
    kept = assert_counted(runtime, "16 concurrent single shipments of one lot")
    assert kept["hops"][(batch["id"], maker.id, dist.id)] == len(codes)
    assert main(["log", "verify", "--url", server, "--api-key", maker.api_key]) == 0
    assert "log verified" in capsys.readouterr().out


@pytest.mark.postgres_only
def test_a_leaf_left_pending_is_integrated_by_the_next_request(
    client, runtime, maker, batch, issue, make_org, monkeypatch
):
    dist = make_org("distributor", "drug_wholesale")
    first, second, third = (c["uri"] for c in issue(batch["id"], 3))
    assert _ship(client, maker, first, dist.id).json()["results"][0]["log_index"] == 0

    def crash(_engine):
        raise RuntimeError("the process stopped between the event's commit and its integration")

    _strand(monkeypatch, crash)
    assert _ship(client, maker, second, dist.id).status_code == 500
    monkeypatch.undo()
    size, leaves, events, pending = _log_rows(runtime)
    assert (size, len(leaves), events, pending) == (1, 1, 2, 1)  # committed, not in the tree yet
    # its lot-counter changes wait as deltas too; the counters' readers add them, the rows do not have them yet
    assert _deltas(runtime) > 0
    with runtime.engine.connect() as conn:
        read = {(s, h, t): n for s, h, t, n in lot_counters.custody(conn, [batch["id"]])}
        stored = conn.execute(
            select(LotCustody.units).where(LotCustody.state == "in_transit", LotCustody.to_id == dist.id)
        ).scalar()
    assert read[("in_transit", maker.id, dist.id)] == 2 and stored == 1
    stranded = next(e for e in _all_events(runtime) if e not in {leaf[1] for leaf in leaves})
    third_result = _ship(client, maker, third, dist.id).json()["results"][0]
    assert third_result["log_index"] == 2  # the stranded leaf went first, at 1
    size, leaves, events, pending = _log_rows(runtime)
    assert (size, pending) == (3, 0)
    assert leaves == [(0, leaves[0][1]), (1, stranded), (2, third_result["event_id"])]
    assert _deltas(runtime) == 0
    assert_counted(runtime, "a stranded event integrated by the next request")
    # the client's retry of the request that failed is answered as the duplicate it is, with the leaf's index
    retry = _ship(client, maker, second, dist.id).json()["results"][0]
    assert (retry["status"], retry["event_id"], retry["log_index"]) == ("duplicate", stranded, 1)


@pytest.mark.postgres_only
def test_with_the_sequencer_free_an_event_integrates_before_its_own_commit(
    client, runtime, maker, batch, issue, make_org, monkeypatch
):
    """One client: nothing else integrates, so the event's transaction takes the sequencer's lock itself and its one
    commit publishes the leaf, the counters merged; no integration runs after it (one that did would crash here)."""
    dist = make_org("distributor", "drug_wholesale")
    codes = [c["uri"] for c in issue(batch["id"], 2)]

    def after_commit(_engine):
        raise AssertionError("integrated after the commit although the sequencer was free")

    monkeypatch.setattr(log_service, "integrate", after_commit)
    results = [_ship(client, maker, code, dist.id).json()["results"][0] for code in codes]
    assert [r["log_index"] for r in results] == [0, 1]
    size, leaves, _events, pending = _log_rows(runtime)
    assert (size, pending, leaves) == (2, 0, [(0, results[0]["event_id"]), (1, results[1]["event_id"])])
    assert _deltas(runtime) == 0
    assert_counted(runtime, "single events integrated in their own transactions")


@pytest.mark.postgres_only
def test_with_the_sequencer_held_an_event_commits_pending_and_waits_for_its_batch(
    client, runtime, maker, batch, issue, make_org, pool
):
    """Another integration holds the sequencer's lock: the event does not wait for it inside its transaction (no
    hot row): it commits its leaf pending and its counter changes as deltas, then waits for the lock and integrates
    them once it is released."""
    dist = make_org("distributor", "drug_wholesale")
    code = issue(batch["id"], 1)[0]["uri"]
    with runtime.engine.connect() as holder:
        holder.exec_driver_sql("SELECT pg_advisory_xact_lock(16019, 3)")
        answer = pool.submit(_ship, client, maker, code, dist.id)
        deadline = time.monotonic() + 30
        while _log_rows(runtime)[3] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        size, leaves, events, pending = _log_rows(runtime)
        assert (size, leaves, events, pending) == (0, [], 1, 1)  # committed, pending behind the held lock
        assert _deltas(runtime) > 0 and not answer.done()
        holder.rollback()  # the other integration ends
    result = answer.result(timeout=30).json()["results"][0]
    assert result["log_index"] == 0
    assert _log_rows(runtime)[0::3] == (1, 0) and _deltas(runtime) == 0
    assert_counted(runtime, "an event integrated once the sequencer was released")


def _all_events(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Event.id).order_by(Event.id)))


@pytest.mark.postgres_only
def test_a_leaf_left_pending_is_integrated_at_start_and_by_a_checkpoint(
    settings, client, runtime, maker, batch, issue, make_org, monkeypatch
):
    dist = make_org("distributor", "drug_wholesale")
    codes = [c["uri"] for c in issue(batch["id"], 2)]
    _strand(monkeypatch, lambda _engine: 1 / 0)
    assert _ship(client, maker, codes[0], dist.id).status_code == 500
    monkeypatch.undo()
    assert _log_rows(runtime)[0::3] == (0, 1)
    restarted = Runtime.start(settings)  # a new process starting on the same database
    try:
        assert _log_rows(runtime)[0::3] == (1, 0)
    finally:
        restarted.close()

    _strand(monkeypatch, lambda _engine: 1 / 0)
    assert _ship(client, maker, codes[1], dist.id).status_code == 500
    monkeypatch.undo()
    assert _log_rows(runtime)[0::3] == (1, 1)
    runtime.sign_checkpoint()
    size, leaves, events, pending = _log_rows(runtime)
    assert (size, pending, events, len(leaves)) == (2, 0, 2, 2)
    checkpoint = client.get("/v1/log/checkpoint").json()
    assert checkpoint["tree_size"] == 2


def test_a_passport_leaf_integrates_pending_leaves_before_its_own(runtime, client, maker, batch, issue, make_org):
    """An append that needs its index in its own transaction (passport versions, case changes) gives the pending
    leaves theirs first; on SQLite nothing is ever pending and the same call takes the next index."""
    dist = make_org("distributor", "drug_wholesale")
    code = issue(batch["id"], 1)[0]["uri"]
    event = _ship(client, maker, code, dist.id).json()["results"][0]
    assert event["log_index"] == 0
    with runtime.sessions.begin() as session:
        assert log_service.append_bytes(session, b"a leaf of its own", None) == 1
        session.rollback()  # a refused passport version gives its index back
    with runtime.sessions.begin() as session:
        assert log_service.append_bytes(session, b"a leaf of its own", None) == 1
    size, leaves, _events, pending = _log_rows(runtime)
    assert (size, pending, [i for i, _ in leaves]) == (2, 0, [0, 1])


@pytest.mark.postgres_only
@pytest.mark.parametrize("sequencer", ["free", "busy"])
def test_a_commit_with_pending_leaves_integrates_on_a_pool_of_one_connection(
    runtime, client, maker, batch, issue, monkeypatch, sequencer
):
    """A commit that leaves leaves pending (an EPCIS capture, an import) integrates them in its own transaction when
    the sequencer is free; when it is busy, after the commit, on a connection of its own: it must take it once the
    session has given its connection back, or requests committing together could each hold one and wait for another
    until the pool is exhausted. With a pool of one connection, integrating while still holding it would time out
    (and be logged)."""
    from app.db import log as db_log
    from app.db.engine import make_engine, make_sessionmaker
    from app.db.log import PENDING, add_pending
    from app.domain import merkle

    if sequencer == "busy":
        monkeypatch.setattr(db_log, "integrate_here", lambda _session: None)

    issue(batch["id"], 1)  # something in the database; the leaf below stands for an EPCIS capture's or an import's
    size_before = _log_rows(runtime)[0]
    engine = make_engine(
        runtime.engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0, pool_timeout=2
    )
    try:
        with make_sessionmaker(engine)() as session:
            add_pending(session.connection(), merkle.leaf_hash(b"a leaf committed pending"), None)
            session.info[PENDING] = True
            session.commit()
            assert engine.pool.checkedout() == 0  # the integration ran, and gave its connection back too
    finally:
        engine.dispose()
    size, _, _, pending = _log_rows(runtime)
    assert (size, pending) == (size_before + 1, 0)


@pytest.mark.postgres_only
def test_a_downgrade_past_the_pending_tables_is_refused_while_they_hold_work(
    runtime, client, maker, batch, issue, make_org, monkeypatch
):
    from alembic import command

    from app.cli import alembic_config

    dist = make_org("distributor", "drug_wholesale")
    code = issue(batch["id"], 1)[0]["uri"]
    _strand(monkeypatch, lambda _engine: 1 / 0)
    assert _ship(client, maker, code, dist.id).status_code == 500  # committed, its leaf and deltas left waiting
    monkeypatch.undo()
    url = runtime.engine.url.render_as_string(hide_password=False)
    runtime.engine.dispose()
    with pytest.raises(RuntimeError, match="cannot downgrade past 0023 while the log has work waiting"):
        command.downgrade(alembic_config(url), "0022")
    assert _log_rows(runtime)[3] == 1 and _deltas(runtime) > 0  # nothing lost
    runtime.sign_checkpoint()  # integrates
    runtime.engine.dispose()
    command.downgrade(alembic_config(url), "0022")
    command.upgrade(alembic_config(url), "head")


@pytest.mark.postgres_only
def test_the_audit_replay_of_a_snapshot_with_events_still_pending_agrees(
    runtime, client, maker, batch, issue, make_org, monkeypatch
):
    """On a live primary a snapshot can hold events committed but not integrated yet (their leaves pending, their
    counter changes unmerged): the replay counts them as the log's next leaves, and still names an edit of one."""
    from sqlalchemy import update

    from app.services.audit_replay import replay

    dist = make_org("distributor", "drug_wholesale")
    first, second = (c["uri"] for c in issue(batch["id"], 2))
    assert _ship(client, maker, first, dist.id).status_code == 201
    _strand(monkeypatch, lambda _engine: 1 / 0)
    assert _ship(client, maker, second, dist.id).status_code == 500  # committed; leaf and deltas wait
    monkeypatch.undo()
    assert _log_rows(runtime)[3] == 1 and _deltas(runtime) > 0

    def audit() -> list[str]:
        with runtime.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            report = replay(conn)
        assert report.events == 2
        return [d.text() for d in report.differences]

    assert audit() == []
    stranded = next(e for e in _all_events(runtime) if e not in {leaf[1] for leaf in _log_rows(runtime)[1]})
    with runtime.engine.begin() as conn:
        conn.execute(update(Event).where(Event.id == stranded).values(region="CN-65"))
    found = audit()
    assert len(found) == 1 and f"leaf 1 (event {stranded}): event rows 'edited since logged'" in found[0], found
