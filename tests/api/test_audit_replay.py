"""`passport log verify --replay`: a realistic history replays clean; an insider's edit of any derived row (a unit's
state, holder, addressee or container, a container row, any lot counter) or of an event is named, on both
databases."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from app.cli import main
from app.db.models import (
    Container,
    ContainerLot,
    Event,
    LotCustody,
    LotHop,
    LotRecovery,
    LotSale,
    Unit,
)
from app.domain.identifiers import check_digit
from app.services.audit_replay import replay_database
from tests.helpers import GTIN, serial


def sscc(n: int) -> str:
    body = f"0614141{n:010d}"
    return body + check_digit(body)


def ok(client, org, body) -> list[dict[str, Any]]:
    response = client.post("/v1/events", json=body, headers=org.headers)
    assert response.status_code == 201, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert all(r["status"] == "accepted" for r in results), results
    return results


def commission(client, org, serials: list[str]) -> None:
    """Units serialised elsewhere, registered through EPCIS: they start issued, like issued codes."""
    event = {
        "type": "ObjectEvent",
        "eventTime": (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"urn:epc:id:sgtin:9506000.013435.{s}" for s in serials],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "ilmd": {"cbvmda:lotNumber": "EXT1", "cbvmda:itemExpirationDate": (date.today() + timedelta(400)).isoformat()},
    }
    document = {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": [event]},
    }
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    response = client.post("/epcis/capture", content=json.dumps(document).encode(), headers=headers)
    assert response.status_code == 202, response.text
    job = client.get(response.headers["location"], headers=org.headers).json()
    assert job["success"] is True, job


@pytest.fixture
def history(client, maker, batch, issue, make_org) -> dict[str, Any]:
    """Issue, pack, ship, receive, unpack, sell (offline, online), undo, return, open and dispense in parts, lock,
    unlock, export, destroy, recycle, report stolen, repack; units commissioned through EPCIS; some never moved."""
    dist = make_org("distributor", "drug_wholesale")
    pharm = make_org("retailer", "drug_retail")
    online = make_org("retailer", "drug_retail", "online_drug_sales")
    market = make_org("platform")
    recycler = make_org("distributor")
    lot_2 = client.post(
        "/v1/batches",
        json={
            "gtin": GTIN,
            "lot": "LOT43",
            "manufactured_on": (date.today() - timedelta(days=5)).isoformat(),
            "expires_on": (date.today() + timedelta(days=500)).isoformat(),
        },
        headers=maker.headers,
    ).json()
    a = [c["uri"] for c in issue(batch["id"], 30)]
    b = [c["uri"] for c in issue(lot_2["id"], 12)]
    case_1, case_2, case_3, pallet, case_4 = (f"(00){sscc(n)}" for n in range(1, 6))

    ok(client, maker, {"action": "pack", "codes": [*a[0:6], *b[0:4]], "container": case_1})
    ok(client, maker, {"action": "pack", "codes": a[6:12], "container": case_2})
    ok(client, maker, {"action": "pack", "codes": [case_1, case_2], "container": pallet})
    ok(client, maker, {"action": "ship", "codes": [pallet, *a[12:16]], "to": dist.id})
    ok(client, dist, {"action": "receive", "codes": [pallet, *a[12:16]]})
    ok(client, dist, {"action": "ship", "codes": [a[0], case_2], "to": pharm.id})  # out of the pallet
    ok(client, pharm, {"action": "receive", "codes": [a[0], case_2]})
    ok(client, pharm, {"action": "unpack", "codes": [case_2]})
    ok(client, pharm, {"action": "sell", "codes": [a[0]], "channel": "offline"})
    sale = ok(client, pharm, {"action": "sell", "codes": [a[6]], "channel": "offline"})[0]["event_id"]
    ok(client, pharm, {"action": "undo", "event_id": sale})
    ok(client, pharm, {"action": "ship", "codes": a[7:9], "to": online.id})
    ok(client, online, {"action": "receive", "codes": a[7:9]})
    online_sale = {"action": "sell", "channel": "online", "platform": market.id, "order_ref": "W-1"}
    ok(client, online, {**online_sale, "codes": [a[7]]})
    ok(client, pharm, {"action": "sell", "codes": [a[9]], "channel": "offline"})
    ok(client, pharm, {"action": "return", "codes": [a[9]]})
    ok(client, pharm, {"action": "open", "codes": [a[10]]})
    parts = [ok(client, pharm, {"action": "dispense", "codes": [a[10]]})[0]["event_id"] for _ in range(2)]
    ok(client, pharm, {"action": "undo", "event_id": parts[1]})
    ok(client, dist, {"action": "destroy", "codes": [case_1]})  # out of the pallet, destroyed with two lots
    ok(client, recycler, {"action": "recycle", "codes": [a[0]]})  # a consumer's unit
    lock = ok(client, dist, {"action": "lock", "codes": [pallet]})[0]["event_id"]
    ok(client, dist, {"action": "undo", "event_id": lock})
    ok(client, dist, {"action": "lock", "codes": [a[12]]})
    ok(client, dist, {"action": "lock", "codes": [a[13]]})
    ok(client, dist, {"action": "unlock", "codes": [a[13]]})
    export = ok(client, dist, {"action": "export", "codes": [a[14]]})[0]["event_id"]
    ok(client, dist, {"action": "undo", "event_id": export})
    ok(client, dist, {"action": "report_stolen", "codes": [a[15]]})
    ok(client, maker, {"action": "pack", "codes": b[4:8], "container": case_3})
    ok(client, maker, {"action": "pack", "codes": [case_3, a[16]], "container": case_4})
    ok(client, maker, {"action": "ship", "codes": [case_4], "to": dist.id})  # still in transit
    ok(client, maker, {"action": "ship", "codes": [a[17]], "to": pharm.id})  # a loose unit in transit
    commission(client, maker, ["X100", "X101"])
    ok(client, maker, {"action": "ship", "codes": [f"(01){GTIN}(21)X100"], "to": dist.id})
    ok(client, dist, {"action": "receive", "codes": [f"(01){GTIN}(21)X100"]})
    return {
        "a": a,
        "b": b,
        "dist": dist,
        "pharm": pharm,
        "online": online,
        "case_2": sscc(2),
        "case_3": sscc(3),
        "case_4": sscc(5),
        "pallet": sscc(4),
        "lots": (batch["id"], lot_2["id"]),
    }


def replay(runtime) -> list[str]:
    report = replay_database(runtime.engine)
    return [d.text() for d in report.differences]


def test_a_clean_history_replays_without_a_difference(runtime, history, monkeypatch, capsys):
    assert replay(runtime) == []
    monkeypatch.setenv("PASSPORT_DATABASE_URL", runtime.settings.database_url)
    assert main(["log", "verify", "--replay"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("replay verified:"), out
    assert "36 events replayed, 44 units and 5 containers checked" in out


# An insider's edit: (what it changes, SQL statement factory given the history, text the replay must print).
Edit = Callable[[dict[str, Any]], Any]


def _unit(uri: str) -> Any:
    return (Unit.gtin == GTIN) & (Unit.serial == serial(uri))


def _row(table: Any, **where: Any) -> Any:
    clauses = [getattr(table, k) == v for k, v in where.items()]
    return clauses


EDITS: list[tuple[str, Edit, Callable[[dict[str, Any]], str]]] = [
    (
        "a sold unit made sellable again",
        lambda h: update(Unit).where(_unit(h["a"][7])).values(state="held"),
        lambda h: f"unit {GTIN}/{serial(h['a'][7])} state: stored 'held', replayed 'sold'",
    ),
    (
        "a unit never moved, marked sold",
        lambda h: update(Unit).where(_unit(h["a"][29])).values(state="sold"),
        lambda h: f"unit {GTIN}/{serial(h['a'][29])} state: stored 'sold', replayed 'issued'",
    ),
    (
        "a unit given to another holder",
        lambda h: update(Unit).where(_unit(h["a"][9])).values(holder_id=h["dist"].id),
        lambda h: f"unit {GTIN}/{serial(h['a'][9])} holder: stored '{h['dist'].id}', replayed '{h['pharm'].id}'",
    ),
    (
        "a shipment readdressed",
        lambda h: update(Unit).where(_unit(h["a"][17])).values(to_id=h["dist"].id),
        lambda h: f"unit {GTIN}/{serial(h['a'][17])} to: stored '{h['dist'].id}', replayed '{h['pharm'].id}'",
    ),
    (
        "a unit put into a container",
        lambda h: update(Unit).where(_unit(h["a"][20])).values(container_sscc=h["case_2"]),
        lambda h: f"unit {GTIN}/{serial(h['a'][20])} container: stored '{h['case_2']}', replayed None",
    ),
    (
        "a locked unit's status before the lock",
        lambda h: update(Unit).where(_unit(h["a"][12])).values(previous="sold"),
        lambda h: f"unit {GTIN}/{serial(h['a'][12])} previous: stored 'sold', replayed 'held'",
    ),
    (
        "a container in transit marked held",
        lambda h: update(Container).where(Container.sscc == h["case_4"]).values(state="held"),
        lambda h: f"container {h['case_4']} state: stored 'held', replayed 'in_transit'",
    ),
    (
        "a container lifted out of the one around it",
        lambda h: update(Container).where(Container.sscc == h["case_3"]).values(parent_sscc=None),
        lambda h: f"container {h['case_3']} parent: stored None, replayed '{h['case_4']}'",
    ),
    (
        "lot_custody: sold units counted as held",
        lambda h: (
            update(LotCustody)
            .where(*_row(LotCustody, batch_id=h["lots"][0], state="sold", holder_id=h["online"].id, to_id=""))
            .values(units=0)
        ),
        lambda h: (
            f"lot_custody batch_id={h['lots'][0]} state=sold holder_id={h['online'].id} to_id=-: stored 0, replayed 1"
        ),
    ),
    (
        "container_lot: a unit more in a case",
        lambda h: (
            update(ContainerLot)
            .where(*_row(ContainerLot, sscc=h["case_3"], batch_id=h["lots"][1]))
            .values(units=ContainerLot.units + 1)
        ),
        lambda h: f"container_lot sscc={h['case_3']} batch_id={h['lots'][1]}: stored 5, replayed 4",
    ),
    (
        "lot_hop: a hop forgotten",
        lambda h: delete(LotHop).where(*_row(LotHop, batch_id=h["lots"][0], from_id=h["dist"].id, to_id=h["pharm"].id)),
        lambda h: f"lot_hop batch_id={h['lots'][0]} from_id={h['dist'].id} to_id={h['pharm'].id}: stored 0, replayed 7",
    ),
    (
        "lot_sale: a sale invented",
        lambda h: insert(LotSale).values(
            batch_id=h["lots"][1], action="sell", channel="offline", platform_id="", units=3
        ),
        lambda h: f"lot_sale batch_id={h['lots'][1]} action=sell channel=offline platform_id=-: stored 3, replayed 0",
    ),
    (
        "lot_recovery: fewer destroyed",
        lambda h: (
            update(LotRecovery).where(*_row(LotRecovery, batch_id=h["lots"][1], action="destroy")).values(units=1)
        ),
        lambda h: f"lot_recovery batch_id={h['lots'][1]} action=destroy: stored 1, replayed 4",
    ),
]


@pytest.mark.parametrize("edit", EDITS, ids=[name for name, _, _ in EDITS])
def test_each_edit_of_derived_state_is_named(runtime, history, edit, monkeypatch, capsys):
    _, statement, expected = edit
    with runtime.engine.begin() as conn:
        assert conn.execute(statement(history)).rowcount != 0  # one row (PostgreSQL says -1 for an insert)
    found = replay(runtime)
    assert found == [expected(history)]
    monkeypatch.setenv("PASSPORT_DATABASE_URL", runtime.settings.database_url)
    assert main(["log", "verify", "--replay"]) == 1
    out = capsys.readouterr().out
    assert expected(history) in out and "replay FAILED: 1 difference;" in out


def test_an_edited_event_is_named_by_its_leaf(runtime, history):
    with runtime.engine.begin() as conn:
        event_id = conn.execute(select(Event.id).where(Event.action == "return")).scalar_one()
        conn.execute(update(Event).where(Event.id == event_id).values(region="CN-65"))
    found = replay(runtime)
    assert len(found) == 1 and f"(event {event_id}): event rows 'edited since logged'" in found[0], found


# ------------------------------------------------------------------------------------------ imported codes

IMPORTED_CASE = "81234567000000000001"  # 20-digit package codes (a case of two boxes), keyed 'P' + hex
IMPORTED_BOXES = ["81234567000000000101", "81234567000000000102"]


def _import(client, maker, batch, lines: list[dict[str, Any]]) -> None:
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    headers = {**maker.headers, "Content-Type": "application/x-ndjson"}
    response = client.post(f"/v1/batches/{batch['id']}/codes/import", content=body, headers=headers)
    assert response.status_code == 201, response.text


def _code(serial_: str) -> str:
    return f"https://example.com/01/{GTIN}/21/{serial_}"


@pytest.fixture
def imports(client, runtime, maker, batch, make_org) -> dict[str, Any]:
    """Two imports: a case of two boxes of three units (shipped by its code, received, unpacked, a box shipped on,
    received, unpacked, a unit sold), and a pallet (SSCC) of a case of two units that never moves; plus a loose
    imported unit."""
    dist = make_org("distributor", "drug_wholesale")
    pharm = make_org("retailer", "drug_retail")
    family = [{"code": _code(f"U{b}{i}"), "parent": box} for b, box in enumerate(IMPORTED_BOXES) for i in range(3)]
    family += [{"code": box, "parent": IMPORTED_CASE} for box in IMPORTED_BOXES]
    _import(client, maker, batch, [*family, {"code": IMPORTED_CASE, "parent": None}])
    pallet, case = f"(00){sscc(7)}", f"(00){sscc(8)}"
    still = [{"code": pallet, "parent": None}, {"code": case, "parent": pallet}]
    still += [{"code": _code(f"W{i}"), "parent": case} for i in range(2)] + [{"code": _code("L1"), "parent": None}]
    _import(client, maker, batch, still)
    with runtime.engine.connect() as conn:
        top = conn.execute(select(Container.sscc).where(Container.parent_sscc.is_(None))).scalars().all()
        containers = conn.execute(select(Container.sscc)).scalars().all()
    assert len(top) == 2 and sscc(7) in top and len(containers) == 5
    case_key = next(k for k in top if k != sscc(7))
    ok(client, maker, {"action": "ship", "codes": [IMPORTED_CASE], "to": dist.id})
    ok(client, dist, {"action": "receive", "codes": [IMPORTED_CASE]})
    ok(client, dist, {"action": "unpack", "codes": [IMPORTED_CASE]})
    ok(client, dist, {"action": "ship", "codes": [IMPORTED_BOXES[1]], "to": pharm.id})
    ok(client, pharm, {"action": "receive", "codes": [IMPORTED_BOXES[1]]})
    ok(client, pharm, {"action": "unpack", "codes": [IMPORTED_BOXES[1]]})
    ok(client, pharm, {"action": "sell", "codes": [_code("U10")], "channel": "offline"})
    return {"dist": dist, "pharm": pharm, "case": case_key, "pallet": sscc(7), "inner": sscc(8), "lot": batch["id"]}


def test_imports_then_shipping_unpacking_and_selling_replay_clean(runtime, imports, monkeypatch, capsys):
    assert replay(runtime) == []
    monkeypatch.setenv("PASSPORT_DATABASE_URL", runtime.settings.database_url)
    assert main(["log", "verify", "--replay"]) == 0
    out = capsys.readouterr().out
    assert "9 events replayed, 9 units and 5 containers checked" in out, out


IMPORT_EDITS: list[tuple[str, Edit, Callable[[dict[str, Any]], str | list[str]]]] = [
    (
        # A unit still in its import package has no containment row (the import writes none for units): the
        # replay reads its package from the unit row itself, so the edit shows in the counts of the packages
        # around it, which the replay rebuilds from the log's events.
        "an imported unit never moved, taken out of its case",
        lambda h: update(Unit).where(_unit(_code("W0"))).values(container_sscc=None),
        lambda h: [
            f"container_lot sscc={h['pallet']} batch_id={h['lot']}: stored 2, replayed 1",
            f"container_lot sscc={h['inner']} batch_id={h['lot']}: stored 2, replayed 1",
        ],
    ),
    (
        "an imported unit never moved, marked sold",
        lambda h: update(Unit).where(_unit(_code("W1"))).values(state="sold"),
        lambda h: f"unit {GTIN}/W1 state: stored 'sold', replayed 'issued'",
    ),
    (
        "an imported unit sold, made sellable again",
        lambda h: update(Unit).where(_unit(_code("U10"))).values(state="held"),
        lambda h: f"unit {GTIN}/U10 state: stored 'held', replayed 'sold'",
    ),
    (
        "an imported package never moved, given to another holder",
        lambda h: update(Container).where(Container.sscc == h["pallet"]).values(holder_id=h["dist"].id),
        lambda h: f"container {h['pallet']} holder: stored '{h['dist'].id}', replayed '{h['pallet_holder']}'",
    ),
    (
        "an imported package lifted out of the one around it",
        lambda h: update(Container).where(Container.sscc == h["inner"]).values(parent_sscc=None),
        lambda h: f"container {h['inner']} parent: stored None, replayed '{h['pallet']}'",
    ),
    (
        "an imported case received, marked in transit",
        lambda h: update(Container).where(Container.sscc == h["case"]).values(state="in_transit"),
        lambda h: f"container {h['case']} state: stored 'in_transit', replayed 'held'",
    ),
    (
        "container_lot: a unit more in an imported package",
        lambda h: (
            update(ContainerLot)
            .where(*_row(ContainerLot, sscc=h["pallet"], batch_id=h["lot"]))
            .values(units=ContainerLot.units + 1)
        ),
        lambda h: f"container_lot sscc={h['pallet']} batch_id={h['lot']}: stored 3, replayed 2",
    ),
]


@pytest.mark.parametrize("edit", IMPORT_EDITS, ids=[name for name, _, _ in IMPORT_EDITS])
def test_each_edit_of_an_imported_row_is_named(runtime, imports, maker, edit):
    _, statement, expected = edit
    history = {**imports, "pallet_holder": maker.id}
    with runtime.engine.begin() as conn:
        assert conn.execute(statement(history)).rowcount == 1
    named = expected(history)
    assert replay(runtime) == (named if isinstance(named, list) else [named])
