"""Races between real concurrent requests: a real uvicorn on loopback, one httpx2 client per thread, the threads
released at the same instant by a barrier, each request in its own database transaction.

On PostgreSQL the events service locks the rows an event names (SELECT ... FOR UPDATE), so the second of two
conflicting requests waits for the first to commit and then sees its result. To make every round a real race and
not two requests that merely happened one after the other, ``LockHold`` keeps the first request that takes the
watched row lock holding it until PostgreSQL itself reports another backend waiting for a lock; each test asserts
that every round was contended that way. The holder is not chosen: whichever request gets the lock first wins.
The two deadlock probes go one step further and force one interleaving (``LockHold.then``: the second request
starts only once the first holds the watched lock), the one that deadlocked the first cut of the events service.

SQLite serialises writers instead (one write transaction at a time); one test checks that the same race there also
ends with exactly one winner and no 500.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from app.db.models import Alert, Container, Containment, Event, EventItem, Unit
from app.domain.identifiers import check_digit
from app.services import orgs
from tests.helpers import GTIN, ok, poster, race, settings_for

ROUNDS = 20
LOCK_WAIT_SECONDS = 30.0  # a bound for a loaded machine (a 501-code request once took over 5 s to reach its lock in CI)


# ------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def duplicate_window() -> int:
    """The contract's default (30 s); a test parametrizes ``duplicate_window`` to change it."""
    return 30


@pytest.fixture
def settings(database_url: str, duplicate_window: int):  # overrides tests.conftest.settings
    return settings_for(database_url, duplicate_window_seconds=duplicate_window)


class LockHold:
    """Keeps the first request that locks a watched row holding that lock until another backend waits for a lock.

    Armed with a predicate over (statement, parameters) of ``SELECT ... FOR UPDATE`` statements; the first request
    whose locking statement matches keeps its transaction open (polling pg_stat_activity from a separate connection)
    until PostgreSQL shows another session of this database waiting on a lock, then carries on and commits. It
    disarms itself after that one hold, so the waiter, once it gets the lock, is not held in turn.
    """

    def __init__(self, engine: Engine, database_url: str) -> None:
        self._engine = engine
        self._watch = create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._mutex = threading.Lock()
        self._predicate: Callable[[str, Any], bool] | None = None
        self.contended = 0
        self.uncontended = 0
        self.holding = threading.Event()  # set while a request holds the watched lock
        event.listen(engine, "after_cursor_execute", self._after)

    def close(self) -> None:
        event.remove(self._engine, "after_cursor_execute", self._after)
        self._watch.dispose()

    def arm(self, predicate: Callable[[str, Any], bool] | None) -> None:
        with self._mutex:
            self._predicate = predicate
            self.holding.clear()

    def then(self, call: Callable[[], Any]) -> Callable[[], Any]:
        """``call``, started only once a request holds the watched lock (to force one interleaving)."""

        def run() -> Any:
            assert self.holding.wait(LOCK_WAIT_SECONDS), "no request took the watched lock"
            return call()

        return run

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if "FOR UPDATE" not in statement:
            return
        with self._mutex:
            predicate = self._predicate
            if predicate is None or not predicate(statement, parameters):
                return
            self._predicate = None
        self.holding.set()
        if self._someone_waits():
            self.contended += 1
        else:
            self.uncontended += 1

    def _someone_waits(self) -> bool:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        with self._watch.connect() as watch:
            while time.monotonic() < deadline:
                if watch.execute(query).scalar_one() > 0:
                    return True
                time.sleep(0.002)
        return False


@pytest.fixture
def lock_hold(runtime, database_url) -> Iterator[LockHold]:
    hold = LockHold(runtime.engine, database_url)
    yield hold
    hold.close()


def locks_unit(statement: str, _parameters: Any) -> bool:
    return "FROM unit" in statement


def locks_unit_in_a_long_list(serial: str, unit_id: int) -> Callable[[str, Any], bool]:
    """A statement locking this unit (named by serial or by id) among more than a handful of others."""

    def match(statement: str, parameters: Any) -> bool:
        given = list(parameters.values()) if isinstance(parameters, dict) else list(parameters or ())
        # one value per parameter, the ids as one array parameter, or the serials as one JSON array (app/db/custody.py)
        values = [v for p in given for v in (p if isinstance(p, list) else _json_list(p) or [p])]
        return "FROM unit" in statement and len(values) > 10 and (serial in values or unit_id in values)

    return match


def _json_list(value: Any) -> list[Any] | None:
    if isinstance(value, str) and value.startswith("["):
        try:
            found = json.loads(value)
        except ValueError:
            return None
        return found if isinstance(found, list) else None
    return None


def locks_container(sscc: str) -> Callable[[str, Any], bool]:
    return lambda statement, parameters: "FROM container" in statement and sscc in str(parameters)


# ------------------------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Key:
    """An API key of an organisation (a till, a warehouse terminal)."""

    org_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def second_key(runtime, org) -> Key:
    with runtime.sessions.begin() as session:
        return Key(org.id, orgs.issue_api_key(session, org.id))


def serial_of(uri: str) -> str:
    return uri.split("/21/")[1].split("?")[0]


_sscc_counter = iter(range(1, 10_000_000))


def new_sscc() -> str:
    body = f"0614141{next(_sscc_counter):010d}"
    return body + check_digit(body)


def problem_code(response) -> str | None:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return response.json().get("code")
    return None


def describe(responses) -> str:
    return " | ".join(f"{r.status_code} {r.text[:300]}" for r in responses)


def unit_row(runtime, uri: str) -> Unit:
    with runtime.sessions() as session:
        return session.scalars(select(Unit).where(Unit.gtin == GTIN, Unit.serial == serial_of(uri))).one()


def actions_on(runtime, unit_id: int) -> list[str]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(Event.action)
                .join(EventItem, EventItem.event_id == Event.id)
                .where(EventItem.unit_id == unit_id)
                .order_by(Event.id)
            )
        )


def alerts_on(runtime, unit_id: int) -> list[Alert]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Alert).where(Alert.unit_id == unit_id).order_by(Alert.id)))


@pytest.fixture
def parties(make_org):
    return {
        "distributor": make_org("distributor", "drug_wholesale"),
        "pharmacy": make_org("retailer", "drug_retail"),
        "pharmacy_2": make_org("retailer", "drug_retail"),
    }


@pytest.fixture
def stock(client, maker, batch, issue, parties) -> Callable[..., list[str]]:
    """Fresh units held by a pharmacy (shipped by the maker and received), set up through the API."""

    def make(count: int, holder: Any = None, *, receive: bool = True) -> list[str]:
        holder = holder or parties["pharmacy"]
        codes = [c["uri"] for c in issue(batch["id"], count)]
        ok(client.post("/v1/events", json={"action": "ship", "codes": codes, "to": holder.id}, headers=maker.headers))
        if receive:
            ok(client.post("/v1/events", json={"action": "receive", "codes": codes}, headers=holder.headers))
        return codes

    return make


# ------------------------------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres_only
@pytest.mark.parametrize("duplicate_window", [0])
def test_two_tills_selling_one_unit_one_wins(runtime, http, pool, lock_hold, parties, stock):
    """Same pharmacy, two tills (two API keys), the same unit sold at the same instant, 20 times over."""
    pharm = parties["pharmacy"]
    tills = [Key(pharm.id, pharm.api_key), second_key(runtime, pharm)]
    clients = [http(), http()]
    codes = stock(ROUNDS)
    for round_no, uri in enumerate(codes):
        now = datetime.now(UTC)
        bodies = [  # each till stamps its own clock, a second apart: never the "same" sale twice
            {
                "action": "sell",
                "codes": [uri],
                "channel": "offline",
                "occurred_at": (now - timedelta(seconds=s)).isoformat(),
            }
            for s in (1, 2)
        ]
        lock_hold.arm(locks_unit)
        responses = race(pool, [poster(clients[i], tills[i], bodies[i]) for i in range(2)])
        lock_hold.arm(None)
        assert sorted(r.status_code for r in responses) == [201, 409], f"round {round_no}: {describe(responses)}"
        won = next(r for r in responses if r.status_code == 201)
        lost = next(r for r in responses if r.status_code == 409)
        assert [r["status"] for r in won.json()["results"]] == ["accepted"]
        assert problem_code(lost) == "already_sold", lost.text

        unit = unit_row(runtime, uri)
        assert (unit.state, unit.holder_id, unit.to_id) == ("sold", pharm.id, None)
        assert actions_on(runtime, unit.id) == ["ship", "receive", "sell"]
        alerts = alerts_on(runtime, unit.id)
        assert [a.type for a in alerts] == ["repeat_sale"]
        assert lost.json()["alert_id"] == alerts[0].id
        assert alerts[0].details["first_sale"]["event_id"] == won.json()["results"][0]["event_id"]
    assert (lock_hold.contended, lock_hold.uncontended) == (ROUNDS, 0)


@pytest.mark.postgres_only
def test_one_till_firing_twice_is_one_sale_and_a_duplicate(runtime, http, pool, lock_hold, parties, stock):
    """The default 30 s window: the same organisation selling the same unit twice at once is one sale, echoed."""
    pharm = parties["pharmacy"]
    clients = [http(), http()]
    rounds = 10
    codes = stock(rounds)
    for round_no, uri in enumerate(codes):
        body = {"action": "sell", "codes": [uri], "channel": "offline"}
        lock_hold.arm(locks_unit)
        responses = race(pool, [poster(client, pharm, body) for client in clients])
        lock_hold.arm(None)
        assert [r.status_code for r in responses] == [201, 201], f"round {round_no}: {describe(responses)}"
        results = [r.json()["results"][0] for r in responses]
        assert sorted(r["status"] for r in results) == ["accepted", "duplicate"]
        assert results[0]["event_id"] == results[1]["event_id"]

        unit = unit_row(runtime, uri)
        assert unit.state == "sold"
        assert actions_on(runtime, unit.id) == ["ship", "receive", "sell"]
        assert alerts_on(runtime, unit.id) == []
    assert (lock_hold.contended, lock_hold.uncontended) == (rounds, 0)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


# Client-side head starts per round: none (a pure race), the seller 50 ms late, the shipper 50 ms late. The head
# start only decides who is likelier to lock first; the other request still races into the held lock.
STAGGERS = [(0.0, 0.0), (0.0, 0.05), (0.05, 0.0)]


@pytest.mark.postgres_only
def test_ship_racing_a_sale_of_the_same_unit(runtime, http, pool, lock_hold, parties, stock):
    pharm, dist = parties["pharmacy"], parties["distributor"]
    clients = [http(), http()]
    rounds = 12
    codes = stock(rounds)
    winners: list[str] = []
    for round_no, uri in enumerate(codes):
        ship = {"action": "ship", "codes": [uri], "to": dist.id}
        sell = {"action": "sell", "codes": [uri], "channel": "offline"}
        lock_hold.arm(locks_unit)
        shipped, sold = race(
            pool,
            [poster(clients[0], pharm, ship), poster(clients[1], pharm, sell)],
            stagger=list(STAGGERS[round_no % len(STAGGERS)]),
        )
        lock_hold.arm(None)
        where = f"round {round_no}: {describe([shipped, sold])}"
        assert sorted([shipped.status_code, sold.status_code]) == [201, 409], where
        unit = unit_row(runtime, uri)
        if sold.status_code == 201:
            winners.append("sell")
            assert problem_code(shipped) == "already_sold", where
            assert (unit.state, unit.holder_id, unit.to_id) == ("sold", pharm.id, None)
            assert actions_on(runtime, unit.id) == ["ship", "receive", "sell"]
        else:
            winners.append("ship")
            assert problem_code(sold) == "in_transit", where
            assert (unit.state, unit.holder_id, unit.to_id) == ("in_transit", pharm.id, dist.id)
            assert actions_on(runtime, unit.id) == ["ship", "receive", "ship"]
            assert alerts_on(runtime, unit.id) == []
    assert (lock_hold.contended, lock_hold.uncontended) == (rounds, 0)
    assert set(winners) == {"ship", "sell"}, winners


@pytest.mark.postgres_only
def test_overlapping_lists_in_opposite_orders_do_not_deadlock(runtime, http, pool, lock_hold, parties, stock):
    """A shipment of ten units and a till selling the same ten in reverse order: all-or-nothing, one winner."""
    pharm, dist = parties["pharmacy"], parties["distributor"]
    clients = [http(), http()]
    rounds = 6
    for round_no in range(rounds):
        codes = stock(10)
        ship = {"action": "ship", "codes": codes, "to": dist.id}
        sell = {"events": [{"action": "sell", "codes": codes[::-1], "channel": "offline"}]}
        lock_hold.arm(locks_unit)
        shipped, sold = race(
            pool,
            [poster(clients[0], pharm, ship), poster(clients[1], pharm, sell)],
            stagger=list(STAGGERS[round_no % len(STAGGERS)]),
        )
        lock_hold.arm(None)
        where = f"round {round_no}: {describe([shipped, sold])}"
        assert sorted([shipped.status_code, sold.status_code]) == [201, 409], where
        states = {(u.state, u.to_id) for u in (unit_row(runtime, uri) for uri in codes)}
        if sold.status_code == 201:
            assert problem_code(shipped) == "already_sold", where
            assert states == {("sold", None)}
        else:
            assert problem_code(sold) == "in_transit", where
            assert states == {("in_transit", dist.id)}
    assert (lock_hold.contended, lock_hold.uncontended) == (rounds, 0)


@pytest.mark.postgres_only
def test_ten_tills_and_docks_at_once_all_succeed(runtime, http, pool, parties, stock):
    """Ten threads, two pharmacies, each thread receiving its own shipment and then selling it unit by unit."""
    shops = [parties["pharmacy"], parties["pharmacy_2"]]
    per_thread = 5
    work = [(shops[i % 2], stock(per_thread, shops[i % 2], receive=False)) for i in range(10)]
    clients = [http() for _ in work]

    def session_of(client: httpx2.Client, shop, codes: list[str]) -> Callable[[], list[httpx2.Response]]:
        def run() -> list[httpx2.Response]:
            out = [client.post("/v1/events", json={"action": "receive", "codes": codes}, headers=shop.headers)]
            for uri in codes:
                out.append(
                    client.post(
                        "/v1/events",
                        json={"action": "sell", "codes": [uri], "channel": "offline"},
                        headers=shop.headers,
                    )
                )
            return out

        return run

    outcomes = race(
        pool, [session_of(client, shop, codes) for client, (shop, codes) in zip(clients, work, strict=True)]
    )
    flat = [r for thread in outcomes for r in thread]
    assert len(flat) == 10 * (1 + per_thread)
    assert all(r.status_code == 201 for r in flat), describe([r for r in flat if r.status_code != 201])
    assert all(res["status"] == "accepted" for r in flat for res in r.json()["results"])
    for shop, codes in work:
        for uri in codes:
            unit = unit_row(runtime, uri)
            assert (unit.state, unit.holder_id) == ("sold", shop.id)
            assert actions_on(runtime, unit.id) == ["ship", "receive", "sell"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 0
        assert session.scalar(select(func.count()).select_from(Event).where(Event.action == "sell")) == 50


@pytest.mark.postgres_only
def test_pallet_ship_racing_a_sale_from_inside_the_pallet(client, runtime, http, pool, lock_hold, parties, stock):
    """The holder ships a pallet while a till sells one unit out of one of its cases.

    Either the sale goes first (the unit is sold and leaves its case, and the pallet then ships without it), or the
    shipment goes first (the sale is refused: the unit is in transit inside the pallet). Never a 500, never both
    a sold unit and that unit still packed in a pallet on the road."""
    pharm, dist = parties["pharmacy"], parties["distributor"]
    clients = [http(), http()]
    rounds = 9
    outcomes: list[str] = []
    for round_no in range(rounds):
        codes = stock(6)
        case_1, case_2, pallet = new_sscc(), new_sscc(), new_sscc()
        for content, container in ((codes[:3], case_1), (codes[3:], case_2)):
            ok(
                client.post(
                    "/v1/events",
                    json={"action": "pack", "codes": content, "container": f"(00){container}"},
                    headers=pharm.headers,
                )
            )
        ok(
            client.post(
                "/v1/events",
                json={"action": "pack", "codes": [f"(00){case_1}", f"(00){case_2}"], "container": f"(00){pallet}"},
                headers=pharm.headers,
            )
        )
        target = codes[1]
        ship = {"action": "ship", "codes": [f"(00){pallet}"], "to": dist.id}
        sell = {"action": "sell", "codes": [target], "channel": "offline"}
        lock_hold.arm(locks_container(pallet))
        shipped, sold = race(
            pool,
            [poster(clients[0], pharm, ship), poster(clients[1], pharm, sell)],
            stagger=list(STAGGERS[round_no % len(STAGGERS)]),
        )
        lock_hold.arm(None)
        where = f"round {round_no}: {describe([shipped, sold])}"
        assert shipped.status_code == 201, where  # the pallet is the holder's either way
        assert sold.status_code in (201, 409), where

        with runtime.sessions() as session:
            pallet_row = session.get(Container, pallet)
            assert (pallet_row.state, pallet_row.holder_id, pallet_row.to_id) == ("in_transit", pharm.id, dist.id)
            unit = session.scalars(select(Unit).where(Unit.serial == serial_of(target))).one()
            links = session.execute(
                select(Containment.parent_sscc, Containment.unpacked_event_id).where(Containment.unit_id == unit.id)
            ).all()
        if sold.status_code == 201:
            outcomes.append("sell first")
            sale_id = sold.json()["results"][0]["event_id"]
            assert (unit.state, unit.holder_id, unit.container_sscc) == ("sold", pharm.id, None), where
            assert links == [(case_1, sale_id)]
        else:
            outcomes.append("ship first")
            assert problem_code(sold) == "in_transit", where
            assert unit.container_sscc == case_1 and links == [(case_1, None)]
            assert actions_on(runtime, unit.id) == ["ship", "receive", "pack"]

        # Whatever happened, the distributor receives the pallet and holds exactly the units still in it.
        ok(client.post("/v1/events", json={"action": "receive", "codes": [f"(00){pallet}"]}, headers=dist.headers))
        for uri in codes:
            record = client.get(
                f"/v1/units/{GTIN}/{serial_of(uri)}",
                headers=dist.headers if uri != target or sold.status_code != 201 else pharm.headers,
            )
            assert record.status_code == 200, record.text
            body = record.json()
            expected = ("sold", pharm.id) if uri == target and sold.status_code == 201 else ("held", dist.id)
            assert (body["status"], body["holder"]["id"]) == expected, (uri, body)
    assert (lock_hold.contended, lock_hold.uncontended) == (rounds, 0)
    assert set(outcomes) == {"sell first", "ship first"}, outcomes


@pytest.mark.postgres_only
def test_a_long_list_and_a_short_one_sharing_units_do_not_deadlock(runtime, http, pool, lock_hold, parties, stock):
    """Two events sharing units x and y must lock them in the same order whatever their lengths.

    Chosen against the first cut of load_units (slices of 500 codes by (gtin, serial), each slice in id order): x is
    in the long list's first slice, y alone in its second, and id(y) < id(x), so the long shipment locked x then y
    while a short sale of [x, y] locked y then x. The sale is sent once the shipment holds the lock on x, and the
    hold keeps the shipment holding it until the sale waits for a lock. Correct behaviour, whatever the lock order:
    one winner and one 409, never a 500 (a deadlock)."""
    pharm, dist = parties["pharmacy"], parties["distributor"]
    clients = [http(), http()]
    codes = stock(520)
    ids = {uri: unit_row(runtime, uri).id for uri in codes}
    by_serial = sorted(codes, key=serial_of)
    for start in range(len(by_serial) - 500):
        long_list = by_serial[start : start + 501]
        y = long_list[-1]  # alone in the second slice of 500
        xs = [uri for uri in long_list[:500] if ids[uri] > ids[y]]
        if xs:
            x = xs[0]
            break
    else:
        pytest.fail("no x/y pair found")
    ship = {"action": "ship", "codes": long_list, "to": dist.id}
    sell = {"action": "sell", "codes": [x, y], "channel": "offline"}
    lock_hold.arm(locks_unit_in_a_long_list(serial_of(x), ids[x]))
    shipped, sold = race(pool, [poster(clients[0], pharm, ship), lock_hold.then(poster(clients[1], pharm, sell))])
    lock_hold.arm(None)
    where = describe([shipped, sold])
    assert sorted([shipped.status_code, sold.status_code]) == [201, 409], where
    states = {(u.state, u.to_id) for u in (unit_row(runtime, uri) for uri in (x, y))}
    assert states == ({("sold", None)} if sold.status_code == 201 else {("in_transit", dist.id)}), where
    assert (lock_hold.contended, lock_hold.uncontended) == (1, 0)


@pytest.mark.postgres_only
def test_a_unit_and_a_case_shipped_while_their_units_are_sold_do_not_deadlock(
    client, runtime, http, pool, lock_hold, parties, stock
):
    """A shipment naming a loose unit x and a case holding unit y, id(y) < id(x), against a sale of [y, x].

    Locked set by set (the named units, then the units inside the named containers), the shipment took x, then y,
    while the sale took y, then x: a deadlock. The sale is sent once the shipment holds x's lock, and the hold
    keeps it holding until the sale waits for a lock. Correct: the shipment wins (both units leave in transit)
    and the sale is refused; never a 500."""
    pharm, dist = parties["pharmacy"], parties["distributor"]
    clients = [http(), http()]
    y, x = sorted(stock(2), key=lambda uri: unit_row(runtime, uri).id)
    x_row = unit_row(runtime, x)
    case = new_sscc()
    ok(
        client.post(
            "/v1/events", json={"action": "pack", "codes": [y], "container": f"(00){case}"}, headers=pharm.headers
        )
    )
    ship = {"action": "ship", "codes": [x, f"(00){case}"], "to": dist.id}
    sell = {"action": "sell", "codes": [y, x], "channel": "offline"}

    def locks_x(statement: str, parameters: Any) -> bool:
        given = list(parameters.values()) if isinstance(parameters, dict) else list(parameters or ())
        values = [v for p in given for v in (p if isinstance(p, list) else _json_list(p) or [p])]
        return "FROM unit" in statement and (x_row.serial in values or x_row.id in values)

    lock_hold.arm(locks_x)
    shipped, sold = race(pool, [poster(clients[0], pharm, ship), lock_hold.then(poster(clients[1], pharm, sell))])
    lock_hold.arm(None)
    where = describe([shipped, sold])
    assert (shipped.status_code, sold.status_code) == (201, 409), where
    assert (unit_row(runtime, x).state, unit_row(runtime, x).to_id) == ("in_transit", dist.id)
    assert unit_row(runtime, y).container_sscc == case  # not sold: it travels in its case
    with runtime.sessions() as session:
        case_row = session.get(Container, case)
        assert (case_row.state, case_row.to_id) == ("in_transit", dist.id)
    assert (lock_hold.contended, lock_hold.uncontended) == (1, 0)


@pytest.mark.postgres_only
def test_unpacking_a_case_while_selling_from_it_does_not_deadlock(
    client, runtime, http, pool, lock_hold, parties, stock
):
    """Unpack locks the case, then the units in it; a sale locks its unit, then the case the unit is in.

    The sale is sent once the unpack holds the case, and the hold keeps the unpack holding it until the sale (which
    has locked its unit) waits for the case; then the unpack goes on to lock the units in the case. Correct
    behaviour: both succeed (the sale takes the unit out of the case, or sells it once it is loose), never a 500."""
    pharm = parties["pharmacy"]
    clients = [http(), http()]
    rounds = 3
    for round_no in range(rounds):
        codes = stock(4)
        case = new_sscc()
        ok(
            client.post(
                "/v1/events", json={"action": "pack", "codes": codes, "container": f"(00){case}"}, headers=pharm.headers
            )
        )
        unpack = {"action": "unpack", "codes": [f"(00){case}"]}
        sell = {"action": "sell", "codes": [codes[0]], "channel": "offline"}
        lock_hold.arm(locks_container(case))
        unpacked, sold = race(
            pool, [poster(clients[0], pharm, unpack), lock_hold.then(poster(clients[1], pharm, sell))]
        )
        lock_hold.arm(None)
        where = f"round {round_no}: {describe([unpacked, sold])}"
        assert (unpacked.status_code, sold.status_code) == (201, 201), where
        unit = unit_row(runtime, codes[0])
        assert (unit.state, unit.container_sscc) == ("sold", None), where
    assert (lock_hold.contended, lock_hold.uncontended) == (rounds, 0)


@pytest.mark.postgres_only
@pytest.mark.parametrize("duplicate_window", [0])
def test_twenty_tills_selling_one_unit_make_one_alert_counting_the_repeats(runtime, http, parties, stock):
    """README: one open alert per code and kind counts repeats instead of multiplying (it made 19 rows)."""
    pharm = parties["pharmacy"]
    (uri,) = stock(1)
    clients = [http() for _ in range(ROUNDS)]
    now = datetime.now(UTC)
    bodies = [  # a second apart, so that none is the same sale as another (duplicate_window 0)
        {
            "action": "sell",
            "codes": [uri],
            "channel": "offline",
            "occurred_at": (now - timedelta(seconds=s)).isoformat(),
        }
        for s in range(1, ROUNDS + 1)
    ]
    with ThreadPoolExecutor(max_workers=ROUNDS, thread_name_prefix="race") as pool:
        responses = race(pool, [poster(clients[i], pharm, bodies[i]) for i in range(ROUNDS)])
    assert sorted(r.status_code for r in responses) == [201] + [409] * (ROUNDS - 1), describe(responses)
    lost = [r for r in responses if r.status_code == 409]
    assert {problem_code(r) for r in lost} == {"already_sold"}
    unit = unit_row(runtime, uri)
    (alert,) = alerts_on(runtime, unit.id)
    assert (alert.type, alert.status, alert.count) == ("repeat_sale", "open", ROUNDS - 1)
    assert {r.json()["alert_id"] for r in lost} == {alert.id}


@pytest.mark.postgres_only
def test_twenty_events_naming_one_unknown_code_at_once_make_one_alert(runtime, http, parties, batch):
    """No unit row to lock here: the twenty alert inserts themselves race, and the unique index decides."""
    pharm = parties["pharmacy"]
    clients = [http() for _ in range(ROUNDS)]
    body = {"action": "receive", "codes": [f"https://passport.test/01/{GTIN}/21/NEVERISSUED9"]}
    with ThreadPoolExecutor(max_workers=ROUNDS, thread_name_prefix="race") as pool:
        responses = race(pool, [poster(client, pharm, body) for client in clients])
    assert [r.status_code for r in responses] == [404] * ROUNDS, describe(responses)
    with runtime.sessions() as session:
        alerts = list(session.scalars(select(Alert)))
    assert [(a.type, a.serial, a.count) for a in alerts] == [("unknown_code", "NEVERISSUED9", ROUNDS)]
    assert {r.json()["alert_id"] for r in responses} == {alerts[0].id}


# ------------------------------------------------------------------------------------------------- SQLite


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("duplicate_window", [0])
def test_sqlite_two_tills_one_winner(database_url, runtime, http, pool, parties, stock):
    """SQLite has no row locks: writers are serialised by the database lock (BEGIN IMMEDIATE)."""
    assert database_url.startswith("sqlite")
    pharm = parties["pharmacy"]
    tills = [Key(pharm.id, pharm.api_key), second_key(runtime, pharm)]
    clients = [http(), http()]
    rounds = 10
    codes = stock(rounds)
    for round_no, uri in enumerate(codes):
        now = datetime.now(UTC)
        bodies = [
            {
                "action": "sell",
                "codes": [uri],
                "channel": "offline",
                "occurred_at": (now - timedelta(seconds=s)).isoformat(),
            }
            for s in (1, 2)
        ]
        responses = race(pool, [poster(clients[i], tills[i], bodies[i]) for i in range(2)])
        assert sorted(r.status_code for r in responses) == [201, 409], f"round {round_no}: {describe(responses)}"
        lost = next(r for r in responses if r.status_code == 409)
        assert problem_code(lost) == "already_sold", lost.text
        unit = unit_row(runtime, uri)
        assert unit.state == "sold"
        assert actions_on(runtime, unit.id) == ["ship", "receive", "sell"]
        assert [a.type for a in alerts_on(runtime, unit.id)] == ["repeat_sale"]
