"""The single-event request's path (issue 17, "one event per request"; docs/benchmarks.md): one ``POST /v1/events``
with one event runs without a savepoint, reads the organisations it names and their licences in one statement,
and on PostgreSQL integrates the log in two statements after the sequencer's lock; a refusal or a duplicate rolls
the whole transaction back and the request goes on in a new one (its alert kept, SQLite's write lock taken again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from starlette.routing import request_response

import app.api.routes_events as routes_events
import app.db.log as log_db
import app.services.log as log_service
from app.db.custody import WriteBatch, set_custody
from app.db.models import Alert, Event, LogNode, LogPending, LogState, LotCustody, LotDelta, Unit
from tests.helpers import assert_counted, assert_problem, ok, post, serial


@contextmanager
def _statements(runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)


def _log(runtime) -> tuple[int, list[tuple[int, int | None]], int]:
    with runtime.sessions() as session:
        size = session.scalar(select(LogState.tree_size))
        leaves = session.execute(
            select(LogNode.index, LogNode.event_id).where(LogNode.level == 0).order_by(LogNode.index)
        ).all()
        pending = session.scalar(select(func.count()).select_from(LogPending))
    return int(size), [(int(i), e) for i, e in leaves], int(pending)


def _ship(client, org, code: str, to: str):
    return post(client, org, {"action": "ship", "codes": [code], "to": to})


def test_a_single_event_takes_no_savepoint_and_reads_its_organisations_once(
    client, runtime, maker, batch, issue, make_org
):
    dist = make_org("distributor", "drug_wholesale")
    first, second = (c["uri"] for c in issue(batch["id"], 2))
    ok(_ship(client, maker, first, dist.id))  # warm: nothing cached across requests is what is counted
    with _statements(runtime) as seen:
        result = ok(_ship(client, maker, second, dist.id))[0]
    assert result["status"] == "accepted" and result["log_index"] == 1
    assert not [s for s in seen if "SAVEPOINT" in s.upper()], seen
    org_reads = [s for s in seen if s.startswith("SELECT") and "FROM organisation" in s]
    licence_reads = [s for s in seen if s.startswith("SELECT") and "licence" in s]
    # the key was read by the warm request and is kept (app/services/orgs.py Principals); the actor and the
    # receiver with their licences in one statement (were four more, and two for the key)
    assert len(org_reads) == 1, org_reads
    assert len(licence_reads) == 1 and " JOIN licence" in licence_reads[0], licence_reads
    assert not [s for s in seen if "api_key" in s], seen
    if runtime.engine.dialect.name == "postgresql":
        after_lock = seen[next(i for i, s in enumerate(seen) if "pg_try_advisory_xact_lock" in s) + 1 :]
        assert len(after_lock) == 2, after_lock  # merge, take, read; then store and size (were eight)
        assert len([s for s in seen if "FROM unit" in s and "FOR UPDATE" in s]) == 1
    assert _log(runtime) == (2, [(0, _log(runtime)[1][0][1]), (1, result["event_id"])], 0)
    assert_counted(runtime, "two single shipments")


def test_a_refused_single_event_is_rolled_back_and_keeps_its_alert(client, runtime, maker, batch, issue, make_org):
    unlicensed = make_org("distributor")
    dist = make_org("distributor", "drug_wholesale")
    code, other = (c["uri"] for c in issue(batch["id"], 2))
    with _statements(runtime) as seen:
        problem = assert_problem(_ship(client, maker, code, unlicensed.id), 409, "licence_required")
    assert problem["alert_id"] and not [s for s in seen if "SAVEPOINT" in s.upper()]
    if runtime.engine.dialect.name == "sqlite":  # the alert's transaction took the write lock at its start
        assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN IMMEDIATE"], seen
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        alert = session.get(Alert, problem["alert_id"])
        assert alert is not None and alert.type == "unlicensed_trade" and alert.org_id == maker.id
        assert session.scalar(select(Unit.state).where(Unit.serial == serial(code))) == "issued"
    assert _log(runtime) == (0, [], 0)
    # the next request records normally, the refused one left nothing behind (no leaf, no delta, no counter)
    result = ok(_ship(client, maker, other, dist.id))[0]
    assert (result["status"], result["log_index"]) == ("accepted", 0)
    assert_counted(runtime, "a refused single event, then an accepted one")


def test_a_single_event_repeated_at_once_is_the_duplicate_of_the_first(client, runtime, maker, batch, issue, make_org):
    """The repeat is refused by the custody table (already in transit), rolled back as a whole, and answered as
    the first event, with its log index; nothing is written twice."""
    dist = make_org("distributor", "drug_wholesale")
    (code,) = (c["uri"] for c in issue(batch["id"], 1))
    first = ok(_ship(client, maker, code, dist.id))[0]
    again = ok(_ship(client, maker, code, dist.id))[0]
    assert (again["status"], again["event_id"], again["log_index"]) == ("duplicate", first["event_id"], 0)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1
    assert _log(runtime) == (1, [(0, first["event_id"])], 0)
    assert_counted(runtime, "a single event and its repeat")


@pytest.mark.postgres_only
def test_one_integrating_statement_merges_every_kind_of_delta_and_writes_no_cancelled_key(
    client, runtime, maker, batch, issue, make_org, monkeypatch
):
    """Events whose leaves and deltas were left pending (the sequencer busy at each commit): shipments, receipts,
    a sale, a destruction, and a lock undone (its custody deltas cancel out). The next request's
    integration merges them all in its one statement: counters as recounted from the events, no row written for
    the cancelled key, the pending leaves first in the log, dense."""
    dist = make_org("distributor", "drug_wholesale")
    shop = make_org("retailer", "drug_retail")
    codes = [c["uri"] for c in issue(batch["id"], 5)]
    monkeypatch.setattr(log_service, "integrate_here", lambda _session: None)
    monkeypatch.setattr(log_service, "integrate", lambda _engine: 0)
    ok(post(client, maker, {"action": "ship", "codes": codes[:3], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": codes[:3]}))
    ok(post(client, dist, {"action": "ship", "codes": codes[:1], "to": shop.id}))
    ok(post(client, shop, {"action": "receive", "codes": codes[:1]}))
    ok(post(client, shop, {"action": "sell", "codes": codes[:1], "channel": "offline"}))
    ok(post(client, dist, {"action": "destroy", "codes": codes[1:2]}))
    undone = ok(post(client, maker, {"action": "lock", "codes": codes[3:4]}))[0]["event_id"]
    ok(post(client, maker, {"action": "undo", "event_id": undone}))
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LotDelta)) > 0
    size, leaves, pending = _log(runtime)
    assert (size, leaves, pending) == (0, [], 8)
    monkeypatch.undo()
    last = ok(_ship(client, maker, codes[4], dist.id))[0]
    assert last["log_index"] == 8
    size, leaves, pending = _log(runtime)
    assert (size, pending) == (9, 0) and [i for i, _ in leaves] == list(range(9))
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LotDelta)) == 0
        cancelled = select(LotCustody.units).where(LotCustody.state == "locked")
        assert session.scalar(cancelled) is None  # the undone lock's +1 and -1 met in the merge: no row
    assert_counted(runtime, "eight stranded events of every kind merged by one integration")


def test_the_event_route_still_declares_the_bearer_scheme_and_its_body(client, maker):
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/events"]["post"]
    other = document["paths"]["/v1/units/{gtin}/{serial}"]["get"]  # a route declaring it as a dependency
    assert operation["security"] == other["security"] == [{"bearerAuth": []}]
    assert "bearerAuth" in document["components"]["securitySchemes"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "anyOf" in schema or "oneOf" in schema, schema  # one event, or a list of them
    # and it is still refused without a key, with the service's own problem
    assert_problem(client.post("/v1/events", json={"action": "ship", "codes": []}), 401, "missing_api_key")


_ODD_REQUESTS = [
    ("POST", b'{"action": "ship"}', "text/plain"),  # not JSON: 415
    ("POST", b'{"action": "ship"}', None),  # no content type: 415
    ("POST", b"{", "application/json"),  # does not parse: 422 with where
    ("POST", b"", "application/json"),  # no body: 422
    ("POST", b'{"action": "\xff"}', "application/json"),  # not UTF-8
    ("POST", b"[" * 100_000, "application/json"),  # nested past the recursion limit
    ("POST", b'{"action": ""}', "application/json; charset=utf-8"),  # refused by the validation after the key
    ("POST", b'{"action": ""}', "application/merge-patch+json"),
    ("POST", b'{"events": [], "atomic": true}', "application/json"),
    ("POST", b"12", "Application/JSON"),
    ("GET", b"", None),  # 405, as before
]


def test_the_plain_route_answers_as_fastapis_route_did(client, maker, monkeypatch):
    """POST /v1/events is served by a plain Starlette route (routes_events.post_events_lean, tried first), not by
    FastAPI's documented route: for every kind of odd request the two answer alike (status, content type, body),
    with the key and without."""
    served: list[str] = []
    lean = routes_events.post_events_lean

    async def spy(request):
        served.append("lean")
        return await lean(request)

    plain = [r for r in client.app.router.routes if getattr(r, "endpoint", None) is lean]
    assert len(plain) == 1 and client.app.router.routes.index(plain[0]) < 10  # tried before the included routers
    monkeypatch.setattr(plain[0], "app", request_response(spy))

    def answers() -> list[tuple[int, str, str]]:
        out = []
        for headers in (maker.headers, {}):
            for method, body, content_type in _ODD_REQUESTS:
                sent = {**headers, **({"content-type": content_type} if content_type else {})}
                response = client.request(method, "/v1/events", content=body, headers=sent)
                out.append((response.status_code, response.headers.get("content-type"), response.text))
        return out

    lean_answers = answers()
    assert served and len(served) == 2 * sum(1 for m, *_ in _ODD_REQUESTS if m == "POST")
    assert {status for status, *_ in lean_answers} >= {401, 405, 415, 422}, lean_answers
    monkeypatch.setattr(client.app.router, "routes", [r for r in client.app.router.routes if r is not plain[0]])
    served.clear()
    assert answers() == lean_answers
    assert not served  # FastAPI's route answered the second time


def test_a_single_unit_is_read_with_its_product_and_its_writes_go_together(
    client, runtime, maker, batch, issue, make_org
):
    """One code: its unit row and its product in one statement (no product read of its own); on PostgreSQL the
    event's writes (the unit's custody, its item, its pending leaf, its lot deltas) and the try of the log's
    sequencer lock in one statement, so a single shipment runs six statements (were ten)."""
    dist = make_org("distributor", "drug_wholesale")
    first, second = (c["uri"] for c in issue(batch["id"], 2))
    ok(_ship(client, maker, first, dist.id))
    with _statements(runtime) as seen:
        result = ok(_ship(client, maker, second, dist.id))[0]
    assert result["status"] == "accepted" and result["log_index"] == 1
    assert len([s for s in seen if "FROM unit u JOIN product p" in s]) == 1, seen
    assert not [s for s in seen if "FROM product" in s and "JOIN product" not in s], seen
    if runtime.engine.dialect.name == "postgresql":
        tried = [s for s in seen if "pg_try_advisory_xact_lock" in s]
        assert len(tried) == 1, seen
        for write in ("UPDATE unit", "INSERT INTO event_item", "INSERT INTO log_pending", "INSERT INTO lot_delta"):
            assert write in tried[0], tried
        assert len(seen) == 6, seen
    with runtime.sessions() as session:  # the row as the ORM reads it back: the times in UTC, the payload's JSON
        event = session.get(Event, result["event_id"])
        assert event is not None and event.action == "ship" and event.to_id == dist.id
        assert event.occurred_at.utcoffset() is not None and isinstance(event.payload, dict)
    assert _log(runtime) == (2, [(0, _log(runtime)[1][0][1]), (1, result["event_id"])], 0)
    assert_counted(runtime, "two single shipments, the second's writes in one statement")


@pytest.mark.postgres_only
def test_a_sequencer_try_of_an_earlier_transaction_is_not_taken_for_this_one(runtime):
    """The try of the sequencer's lock kept with a request's writes counts for their transaction only: after a
    rollback the next transaction's integration tries the lock itself (a lock taken by a rolled-back transaction is
    no longer held)."""
    with runtime.sessions() as session:
        earlier = session.connection().get_transaction()
        session.rollback()
        session.info[log_db.SEQUENCER_TRIED] = (earlier, True)
        session.info[log_db.PENDING] = True
        with _statements(runtime) as seen:
            log_db.integrate_here(session)
        assert [s for s in seen if s == "SELECT pg_try_advisory_xact_lock(16019, 3)"], seen
        session.rollback()


@pytest.mark.postgres_only
def test_a_single_units_custody_write_keeps_one_generic_plan(runtime, batch, issue):
    """One unit's custody update (a till's, a scanner's: the single event's write batch) is written ``id = %s``:
    psycopg prepares it at its 5th run, and after 5 custom plans PostgreSQL keeps one generic plan for it. As
    ``id = ANY(array)`` the generic plan's estimate (10 rows) lost to the custom plan's (1) every time, and the
    whole write batch was planned again at every event (pg_stat_statements: plans = calls). Several units still go as one array; each
    statement changes exactly the rows it names."""
    issue(batch["id"], 2000)  # a table with statistics the planner costs by, as in service (not a few rows unanalysed)
    with runtime.sessions() as session:
        conn = session.connection()
        conn.exec_driver_sql("ANALYZE unit")
        ids = sorted(session.scalars(select(Unit.id).where(Unit.batch_id == batch["id"])))[:3]
        for n in range(14):  # the same text each time, as a till's events send it
            write = WriteBatch()
            set_custody(conn, [ids[0]], {"previous": f"p{n}"}, write)
            assert write.send(conn, then="SELECT count(*) FROM log_state") == 1  # a main query with a cost
        plans = conn.exec_driver_sql(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ("WITH w0 AS (UPDATE unit SET previous = $1 WHERE id %) SELECT count(*) FROM log_state",),  # either form
        ).all()
        assert len(plans) == 1 and plans[0][0] >= 2, plans  # prepared, and planned generically since
        set_custody(conn, ids[1:], {"previous": "many"})
        set_custody(conn, [int(session.scalar(select(func.max(Unit.id)))) + 1], {"previous": "nobody"})  # no such unit
        rows = {u: p for u, p in session.execute(select(Unit.id, Unit.previous).where(Unit.previous.is_not(None)))}
        assert rows == {ids[0]: "p13", ids[1]: "many", ids[2]: "many"}
        session.rollback()
