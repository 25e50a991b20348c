"""The custody use case without HTTP: ``record_events`` called with a fixed policy and clock, on SQLite and on
PostgreSQL (the ``database_url`` fixture), looking at what it returns and at the rows it leaves.

The API tests (tests/api/test_custody_journey.py) cover the same rules through the routes; these pin what the
service itself promises: a list all-or-nothing or event by event, results in the caller's order, duplicates,
refusals whose alerts outlive their rolled-back savepoint, undo within its window, and packing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, make_sessionmaker
from app.db.models import Alert, Event, EventItem, Issuance, Unit
from app.domain.custody import Custody, Status
from app.domain.errors import AlertDraft
from app.domain.orgs import Role
from app.services import catalog, log, orgs
from app.services.custody import EventIn, Outcome, Policy, record_events
from app.services.orgs import Principal
from tests.helpers import GTIN, SSCC_CASE_1

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
POLICY = Policy(now=NOW, undo_window=timedelta(hours=24), duplicate_window=timedelta(seconds=30))
SERIALS = ("SVC0001", "SVC0002", "SVC0003", "SVC0004")
CASE = f"(00){SSCC_CASE_1}"


def code(serial: str) -> str:
    return f"(01){GTIN}(21){serial}"


@dataclass
class World:
    sessions: sessionmaker[Session]
    maker: Principal
    shop: Principal
    other_shop: Principal

    def record(self, who: Principal, *events: EventIn, atomic: bool = True, policy: Policy = POLICY) -> Outcome:
        with self.sessions.begin() as session:
            outcome = record_events(session, who, list(events), atomic=atomic, policy=policy)
        # On PostgreSQL a leaf is pending until its transaction commits and the sequencer gives it its index (the
        # commit's hook here, as for any session: docs/log.md#sequencing); on SQLite the result has it already.
        unknown = [r.event_id for r in outcome.results if r.event_id is not None and r.log_index is None]
        with self.sessions() as session:
            found = log.indices_of(session, unknown)
        assert set(found) == set(unknown)  # every accepted event is in the log once its transaction committed
        for result in outcome.results:
            if result.event_id in found:
                result.log_index = found[result.event_id]
        return outcome

    def stock(self, serial: str) -> None:
        """The maker ships the unit to the shop, which receives it."""
        assert self.record(self.maker, ship(serial, self.shop.org_id)).error is None
        assert self.record(self.shop, receive(serial)).error is None

    def unit(self, serial: str) -> Unit:
        with self.sessions() as session:
            unit = session.scalar(select(Unit).where(Unit.gtin == GTIN, Unit.serial == serial))
            assert unit is not None
            return unit

    def alerts(self) -> list[Alert]:
        with self.sessions() as session:
            return list(session.scalars(select(Alert).order_by(Alert.id)))

    def event_count(self) -> int:
        with self.sessions() as session:
            return session.scalar(select(func.count()).select_from(Event)) or 0


def _principal(session: Session, role: str, *licences: str, name: str) -> Principal:
    org, _ = orgs.create_org(
        session, name=name, role=role, licences=licences, region="CN-31", licensed_from=date(2026, 1, 1)
    )
    return Principal(org.id, org.name, Role(org.role), frozenset(licences))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def world(engine: Engine) -> World:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        maker = _principal(session, "manufacturer", "drug_manufacturing", name="Maker")
        shop = _principal(session, "retailer", "drug_retail", name="Shop")
        other_shop = _principal(session, "retailer", "drug_retail", name="Other shop")
        catalog.create_product(session, maker, gtin=GTIN, name="Paracetamol 500 mg", category="drug_otc")
        batch = catalog.create_batch(
            session, maker, gtin=GTIN, lot="LOT1", manufactured_on=date(2026, 1, 1), expires_on=date(2028, 1, 1)
        )
        issuance = Issuance(batch_id=batch.id, key_tag=None, count=len(SERIALS), created_at=NOW - timedelta(days=1))
        session.add(issuance)
        session.flush()
        session.add_all(Unit(gtin=GTIN, serial=s, batch_id=batch.id, issuance_id=issuance.id) for s in SERIALS)
    return World(sessions, maker, shop, other_shop)


def ship(serial: str, to: str, at: datetime | None = None) -> EventIn:
    return EventIn("ship", [code(serial)], at, to=to)


def receive(serial: str) -> EventIn:
    return EventIn("receive", [code(serial)])


def sell(serial: str, at: datetime | None = None) -> EventIn:
    return EventIn("sell", [code(serial)], at, channel="offline")


def test_a_journey_is_recorded_with_items_log_indexes_and_the_custody_the_table_says(world: World) -> None:
    shipped = world.record(world.maker, ship("SVC0001", world.shop.org_id))
    received = world.record(world.shop, receive("SVC0001"))
    sold = world.record(world.shop, sell("SVC0001"))

    results = [o.results[0] for o in (shipped, received, sold)]
    assert [r.status for r in results] == ["accepted"] * 3
    assert [r.log_index for r in results] == [0, 1, 2]
    unit = world.unit("SVC0001")
    assert (unit.state, unit.holder_id, unit.to_id) == ("sold", world.shop.org_id, None)
    with world.sessions() as session:
        items = session.scalars(select(EventItem).order_by(EventItem.id)).all()
        events = session.scalars(select(Event).order_by(Event.id)).all()
    assert [(Custody.from_json(i.before).status, Custody.from_json(i.after).status) for i in items] == [
        (Status.ISSUED, Status.IN_TRANSIT),
        (Status.IN_TRANSIT, Status.HELD),
        (Status.HELD, Status.SOLD),
    ]
    assert items[0].before == Custody(Status.ISSUED, world.maker.org_id).to_json()
    assert all(e.recorded_at == NOW and e.occurred_at == NOW for e in events)
    assert events[2].channel == "offline"


def test_an_atomic_list_is_refused_as_a_whole_and_says_which_event(world: World) -> None:
    outcome = world.record(world.maker, ship("SVC0001", world.shop.org_id), sell("SVC0001"), atomic=True)
    assert outcome.results == []
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.extra["index"], outcome.error.extra["unit"]) == (
        "in_transit",
        1,
        code("SVC0001"),
    )
    assert world.event_count() == 0
    assert world.unit("SVC0001").state == "issued"


def test_a_list_that_is_not_atomic_is_applied_in_time_order_with_a_result_apiece(world: World) -> None:
    # Listed receipt first, but the shipment happened earlier: applied by time, answered in the caller's order.
    early = NOW - timedelta(hours=2)
    outcome = world.record(world.maker, ship("SVC0002", world.shop.org_id, at=early), atomic=False)
    assert outcome.results[0].status == "accepted"
    outcome = world.record(
        world.shop,
        sell("SVC0002", at=NOW - timedelta(minutes=1)),
        EventIn("receive", [code("SVC0002")], NOW - timedelta(hours=1)),
        sell("SVC0003"),
        atomic=False,
    )
    assert [r.status for r in outcome.results] == ["accepted", "accepted", "rejected"]
    problem = outcome.results[2].problem
    assert problem is not None and problem.code == "not_custodian"
    assert outcome.results[1].log_index == 1 and outcome.results[0].log_index == 2


def test_a_repeat_sale_is_refused_and_its_alert_outlives_the_rollback(world: World) -> None:
    world.record(world.maker, ship("SVC0001", world.shop.org_id))
    world.record(world.shop, receive("SVC0001"))
    first = world.record(world.shop, sell("SVC0001", at=NOW - timedelta(hours=3)))
    assert first.results[0].status == "accepted"

    again = world.record(world.other_shop, sell("SVC0001"))
    error = again.error
    assert error is not None and error.code == "already_sold"
    unit = world.unit("SVC0001")
    # The side channel is typed and plain: no ORM row crosses the rolled-back savepoint.
    assert error.alerts == [
        AlertDraft("repeat_sale", error.alerts[0].details, unit_id=unit.id, gtin=GTIN, serial="SVC0001")
    ]
    assert error.alerts[0].details["first_sale"]["event_id"] == first.results[0].event_id
    (alert,) = world.alerts()
    assert (alert.type, alert.severity, alert.unit_id, alert.org_id, alert.count) == (
        "repeat_sale",
        "high",
        unit.id,
        world.other_shop.org_id,
        1,
    )
    assert error.extra["alert_id"] == alert.id
    assert world.event_count() == 3

    world.record(world.other_shop, sell("SVC0001", at=NOW + timedelta(minutes=1)))
    (alert,) = world.alerts()
    assert alert.count == 2


def test_the_same_sale_twice_within_seconds_is_a_duplicate_not_a_refusal(world: World) -> None:
    world.stock("SVC0004")
    sold = world.record(world.shop, sell("SVC0004")).results[0]
    again = world.record(world.shop, sell("SVC0004", at=NOW - timedelta(seconds=5)))
    # The accepted sale happened at NOW; this one, 5 seconds apart, is the same till repeating itself.
    assert again.error is None
    (result,) = again.results
    assert (result.status, result.event_id, result.log_index) == ("duplicate", sold.event_id, sold.log_index)
    assert world.alerts() == []
    later = world.record(world.shop, sell("SVC0004", at=NOW + timedelta(minutes=5))).error
    assert later is not None and later.code == "already_sold"


def test_a_code_never_issued_raises_an_alert_unless_it_is_one_slip_from_an_issued_serial(world: World) -> None:
    unknown = world.record(world.maker, sell("QQQQQQQ7")).error
    assert unknown is not None and unknown.code == "unknown_code"
    assert [(a.type, a.unit_id, a.gtin, a.serial) for a in unknown.alerts] == [("unknown_code", None, GTIN, "QQQQQQQ7")]
    (alert,) = world.alerts()
    assert (alert.type, alert.severity, alert.gtin, alert.serial, alert.unit_id) == (
        "unknown_code",
        "medium",
        GTIN,
        "QQQQQQQ7",
        None,
    )

    misscan = world.record(world.maker, sell("SVC0010")).error  # SVC0001 with its last two characters swapped
    assert misscan is not None and misscan.code == "unknown_code"
    assert misscan.extra["triage"] == "misscan"
    assert misscan.alerts == []
    assert len(world.alerts()) == 1


def test_undo_restores_the_logged_record_within_its_window_only(world: World) -> None:
    world.stock("SVC0003")
    sold = world.record(world.shop, sell("SVC0003")).results[0]
    late = Policy(now=NOW + timedelta(hours=25), undo_window=POLICY.undo_window, duplicate_window=timedelta(0))
    too_late = world.record(world.shop, EventIn("undo", event_id=sold.event_id), policy=late).error
    assert too_late is not None and too_late.code == "undo_window_passed"
    assert world.unit("SVC0003").state == "sold"

    foreign = world.record(world.other_shop, EventIn("undo", event_id=sold.event_id)).error
    assert foreign is not None and foreign.code == "foreign_event"

    undone = world.record(world.shop, EventIn("undo", event_id=sold.event_id)).results[0]
    assert undone.status == "accepted"
    unit = world.unit("SVC0003")
    assert (unit.state, unit.holder_id) == ("held", world.shop.org_id)
    again = world.record(world.shop, EventIn("undo", event_id=sold.event_id)).error
    assert again is not None and again.code == "already_undone"
    not_undoable = world.record(world.shop, EventIn("undo", event_id=undone.event_id)).error
    assert not_undoable is not None and not_undoable.code == "not_undoable"


def test_a_case_carries_its_units_custody_and_unpacking_leaves_it_on_them(world: World) -> None:
    packed = world.record(world.maker, EventIn("pack", [code("SVC0001"), code("SVC0002")], container=CASE))
    assert packed.results[0].status == "accepted"
    world.record(world.maker, EventIn("ship", [CASE], to=world.shop.org_id))
    world.record(world.shop, EventIn("receive", [CASE]))
    assert world.unit("SVC0001").state == "issued"  # inside the case, its own row is not the record that counts

    unpacked = world.record(world.shop, EventIn("unpack", [CASE]))
    assert unpacked.results[0].status == "accepted"
    for serial in ("SVC0001", "SVC0002"):
        unit = world.unit(serial)
        assert (unit.state, unit.holder_id, unit.container_sscc) == ("held", world.shop.org_id, None)


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (EventIn("sell", [CASE], channel="offline"), "not_a_unit"),
        (EventIn("unpack", [code("SVC0001")]), "not_a_container"),
        (EventIn("pack", [code("SVC0001")]), "container_required"),
        (EventIn("ship", [code("SVC0001")]), "destination_required"),
        (EventIn("ship", [code("SVC0001")], to="no-such-org"), "org_not_found"),
        (EventIn("teleport", [code("SVC0001")]), "invalid_action"),
        (EventIn("ship", [], to="x"), "codes_required"),
        (EventIn("sell", [code("SVC0001")], NOW + timedelta(minutes=6), channel="offline"), "occurred_in_future"),
    ],
)
def test_what_an_event_names_and_carries_is_checked_before_custody(world: World, event: EventIn, problem: str) -> None:
    world.record(world.maker, EventIn("pack", [code("SVC0002")], container=CASE))
    error = world.record(world.maker, event).error
    assert error is not None and error.code == problem
    assert error.alerts == []
    assert world.unit("SVC0001").state == "issued"
