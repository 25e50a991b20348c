"""EPCIS with China's 20-digit drug traceability codes: ``{host}/cn/{code}`` in an epcList names the unit of the
product whose ``cn_drug_id`` begins the code; native events about such units are exported in that form, and a query
by it finds both (passport_schema/epcis-mapping.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.db.models import Container, EpcisEpc, Unit
from app.domain.code_import import CodeKind, container_key
from app.services.epcis.apply import EventCapture
from tests.helpers import BASE_URL, GTIN

JSON = {"Accept": "application/json"}
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
DRUG_ID = "8123456"
GLN_DIST = "0614141000005"
CODES = [f"{DRUG_ID}{n:013d}" for n in (1001, 1002, 1003)]


def uri(code: str, host: str = "https://scanner.example") -> str:
    return f"{host}/cn/{code}"


def at(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def event(epcs: list[str], biz_step: str, minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": at(minutes),
        "eventTimeZoneOffset": "+08:00",
        "epcList": epcs,
        "action": extra.pop("action", "OBSERVE"),
        "bizStep": biz_step,
        **extra,
    }


def commissioning(codes: list[str]) -> dict[str, Any]:
    ilmd = {"cbvmda:lotNumber": "CN2611", "cbvmda:itemExpirationDate": (date.today() + timedelta(days=400)).isoformat()}
    return event([uri(c) for c in codes], "commissioning", 1, action="ADD", disposition="active", ilmd=ilmd)


def capture(client: Any, org: Any, *events: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-05T08:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    response = client.post("/epcis/capture", content=json.dumps(doc).encode(), headers=headers)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = client.get(response.headers["location"], headers=org.headers).json()
    return job


@pytest.fixture
def cn_product(client: Any, maker: Any) -> dict[str, Any]:
    body = {"gtin": GTIN, "name": "阿莫西林胶囊 0.25 g x 24", "category": "drug_otc", "cn_drug_id": DRUG_ID}
    response = client.post("/v1/products", json=body, headers=maker.headers)
    assert response.status_code == 201, response.text
    return response.json()


def ship_to_distributor(make_org: Any) -> tuple[Any, dict[str, Any]]:
    distributor = make_org("distributor", "drug_wholesale", gln=GLN_DIST)
    destination = [{"type": "owning_party", "destination": f"https://id.gs1.org/417/{GLN_DIST}"}]
    return distributor, event([uri(CODES[0])], "shipping", 2, destinationList=destination)


def test_a_20_digit_code_in_an_epclist_names_the_unit_of_its_product(client, runtime, maker, cn_product, make_org):
    job = capture(client, maker, commissioning(CODES))
    assert job["success"] is True, job["errors"]
    with runtime.sessions() as session:
        units = session.execute(select(Unit.gtin, Unit.serial).order_by(Unit.serial)).all()
        assert [tuple(u) for u in units] == [(GTIN, c) for c in CODES]
        assert sorted(session.scalars(select(EpcisEpc.epc))) == CODES  # stored by the code itself
    distributor, ship = ship_to_distributor(make_org)
    receive = event([uri(CODES[0], BASE_URL)], "receiving", 3)
    assert capture(client, maker, ship)["success"] is True
    assert capture(client, distributor, receive)["success"] is True
    scan = client.get(f"/01/{GTIN}/21/{CODES[0]}", headers=JSON).json()
    assert (scan["verdict"], scan["state"], scan["signature"]) == ("authentic", "in_supply_chain", "absent")
    assert client.get(f"/01/{GTIN}/21/{CODES[1]}", headers=JSON).json()["state"] == "issued"


def test_a_20_digit_unit_is_read_again_when_its_event_was_captured_meanwhile(
    client, maker, cn_product, make_org, monkeypatch
):
    """An event recorded, then refused a store by a unique constraint (another job captured it meanwhile): its
    savepoint is rolled back, and the unit the recorder changed in memory, named by its 20-digit code, is read
    again, so the next event of the same transaction decides on what is stored (not on the rolled-back shipment)."""
    assert capture(client, maker, commissioning(CODES))["success"] is True
    _, ship = ship_to_distributor(make_org)
    again = {**ship, "eventTime": at(3)}
    real_epc_rows = EventCapture._epc_rows
    raced: list[int] = []

    def epc_rows(self: EventCapture, row_id: int, ids: Any) -> Any:
        if not raced:
            raced.append(row_id)
            raise IntegrityError("INSERT INTO epcis_event", {}, Exception("duplicate key: captured by another job"))
        return real_epc_rows(self, row_id, ids)

    monkeypatch.setattr(EventCapture, "plan", lambda self, index, event, event_hash: None)  # each one alone
    monkeypatch.setattr(EventCapture, "_epc_rows", epc_rows)
    monkeypatch.setattr(EventCapture, "is_duplicate", lambda self, event, h: event["eventTime"] == ship["eventTime"])
    job = capture(client, maker, ship, again)
    assert raced
    assert (job["success"], job["capturedCount"], job["duplicateCount"], job["errors"]) == (True, 1, 1, [])
    scan = client.get(f"/01/{GTIN}/21/{CODES[0]}", headers=JSON).json()
    assert scan["state"] == "in_supply_chain"


def test_malformed_and_unknown_20_digit_codes(client, runtime, maker, cn_product):
    for bad, slip in ((CODES[0][:-1], "has 19"), (CODES[0] + "7", "has 21"), (CODES[0][:-1] + "O", "'O'")):
        job = capture(client, maker, event([uri(bad)], "inspecting", 1))
        assert job["success"] is False
        assert job["errors"][0]["code"] == "invalid_cn_code"
        assert slip in job["errors"][0]["detail"] and uri(bad) in job["errors"][0]["detail"]
    # a prefix nobody registered: kept as external history, no unit is made
    stranger = "7654321" + CODES[0][7:]
    job = capture(client, maker, commissioning([stranger]))
    assert job["success"] is True
    with runtime.sessions() as session:
        assert session.scalars(select(Unit)).all() == []
    job = capture(client, maker, event([uri(stranger)], "retail_selling", 2))
    assert job["success"] is True and job["warnings"], job


def test_native_events_about_20_digit_units_are_exported_and_found_by_code(client, maker, cn_product, make_org):
    assert capture(client, maker, commissioning(CODES))["success"] is True
    distributor = make_org("distributor", "drug_wholesale", gln=GLN_DIST)
    native = {"action": "ship", "codes": [f"{BASE_URL}/01/{GTIN}/21/{CODES[1]}"], "to": distributor.id}
    response = client.post("/v1/events", json={"events": [native]}, headers=maker.headers)
    assert response.status_code in (200, 201), response.text
    listed = client.get("/epcis/events", params={"MATCH_epc": uri(CODES[1])}, headers=maker.headers)
    assert listed.status_code == 200, listed.text
    events = listed.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    shipped = [e for e in events if e.get("bizStep") == "shipping"]
    assert len(shipped) == 1
    assert shipped[0]["epcList"] == [f"{BASE_URL}/cn/{CODES[1]}"]
    # the captured commissioning is found by the same query, by any host's form of the code
    other_host = client.get(
        "/epcis/events", params={"MATCH_epc": uri(CODES[1], "http://x.example")}, headers=maker.headers
    )
    found = other_host.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert {e["bizStep"] for e in found} == {"commissioning", "shipping"}
    # a code of another unit finds neither
    none = client.get("/epcis/events", params={"MATCH_epc": uri(CODES[2])}, headers=maker.headers).json()
    assert [e["bizStep"] for e in none["epcisBody"]["queryResults"]["resultsBody"]["eventList"]] == ["commissioning"]


# ------------------------------------------------------------------------------------------ package links

CASE, BOX = f"{DRUG_ID}{9_000_001:013d}", f"{DRUG_ID}{9_000_002:013d}"


@pytest.fixture
def family(client: Any, maker: Any, cn_product: dict[str, Any]) -> list[str]:
    """A case holding a box of the three units, imported as POST /v1/batches/{id}/codes/import registers them."""
    today = date.today()
    lot = {"gtin": GTIN, "lot": "CN2611", "manufactured_on": (today - timedelta(days=9)).isoformat()}
    lot["expires_on"] = (today + timedelta(days=700)).isoformat()
    batch = client.post("/v1/batches", json=lot, headers=maker.headers)
    assert batch.status_code == 201, batch.text
    lines = [{"code": CASE, "parent": None}, {"code": BOX, "parent": CASE}]
    lines += [{"code": code, "parent": BOX} for code in CODES]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    headers = {**maker.headers, "Content-Type": "application/x-ndjson"}
    response = client.post(f"/v1/batches/{batch.json()['id']}/codes/import", content=body, headers=headers)
    assert response.status_code == 201, response.text
    return CODES


def test_a_package_code_in_epcis_moves_what_it_holds_and_is_exported_as_its_code(client, maker, family, make_org):
    distributor, _ = ship_to_distributor(make_org)
    destination = [{"type": "owning_party", "destination": f"https://id.gs1.org/417/{GLN_DIST}"}]
    ship = event([uri(CASE)], "shipping", 2, destinationList=destination)
    job = capture(client, maker, ship)
    assert job["success"] is True and not job["warnings"], job
    assert {client.get(f"/01/{GTIN}/21/{c}", headers=JSON).json()["state"] for c in CODES} == {"in_supply_chain"}
    # received natively by the case's code, then opened in EPCIS (an AggregationEvent DELETE of the case)
    received = client.post(
        "/v1/events", json={"events": [{"action": "receive", "codes": [CASE]}]}, headers=distributor.headers
    )
    assert received.status_code in (200, 201), received.text
    opened = {
        "type": "AggregationEvent",
        "eventTime": at(4),
        "eventTimeZoneOffset": "+08:00",
        "parentID": uri(CASE),
        "action": "DELETE",
        "bizStep": "unpacking",
    }
    job = capture(client, distributor, opened)
    assert job["success"] is True and not job["warnings"], job
    # the case's units are now held loose by the distributor, and the case's events read back by its code
    listed = client.get("/epcis/events", params={"MATCH_epc": uri(CASE)}, headers=distributor.headers)
    events = listed.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    receipts = [e for e in events if e.get("bizStep") == "receiving"]
    assert [e["epcList"] for e in receipts] == [[f"{BASE_URL}/cn/{CASE}"]]
    assert {e["bizStep"] for e in events} >= {"shipping", "receiving"}


PALLET = "376104250021234569"
GS1_BOX = f"(01){GTIN}(21)GBOX7"


def test_a_package_reached_through_another_code_is_exported_by_its_printed_code(
    client, runtime, maker, cn_product, make_org
):
    """A case inside a pallet, and the boxes an unpack took out, are named in EPCIS by the codes printed on them
    (a 20-digit box by its /cn/ URI, a GS1 box by its Digital Link), never by the key the import derived."""
    lot = {"gtin": GTIN, "lot": "CN2612", "manufactured_on": (date.today() - timedelta(days=9)).isoformat()}
    lot["expires_on"] = (date.today() + timedelta(days=700)).isoformat()
    batch = client.post("/v1/batches", json=lot, headers=maker.headers).json()["id"]
    lines = [
        {"code": CODES[0], "parent": BOX},
        {"code": CODES[1], "parent": BOX},
        {"code": CODES[2], "parent": f"https://id.gs1.org/01/{GTIN}/21/GBOX7"},
        {"code": BOX, "parent": CASE},
        {"code": GS1_BOX, "parent": CASE},
        {"code": CASE, "parent": None},
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    headers = {**maker.headers, "Content-Type": "application/x-ndjson"}
    response = client.post(f"/v1/batches/{batch}/codes/import", content=body, headers=headers)
    assert response.status_code == 201, response.text
    case_key, box_key = container_key(CASE, CodeKind.CN), container_key(BOX, CodeKind.CN)
    gs1_key = container_key(GS1_BOX, CodeKind.GS1)
    with runtime.sessions() as session:
        codes = dict(session.execute(select(Container.sscc, Container.code)).all())
    assert codes == {case_key: CASE, box_key: BOX, gs1_key: GS1_BOX}

    # The case goes onto a pallet and comes off it; then the case is opened. Neither unpack names the packages
    # it took out: export finds them through the containment rows, by their keys.
    for native in (
        {"action": "pack", "codes": [CASE], "container": f"(00){PALLET}"},
        {"action": "unpack", "codes": [f"(00){PALLET}"]},
        {"action": "unpack", "codes": [CASE]},
    ):
        response = client.post("/v1/events", json={"events": [native]}, headers=maker.headers)
        assert response.status_code == 201, response.text
    listed = client.get("/epcis/events", params={"EQ_bizStep": "unpacking"}, headers=maker.headers)
    assert listed.status_code == 200, listed.text
    events = listed.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    by_parent = {e["parentID"]: e.get("childEPCs") for e in events}
    assert by_parent == {
        f"https://id.gs1.org/00/{PALLET}": [f"{BASE_URL}/cn/{CASE}"],
        f"{BASE_URL}/cn/{CASE}": [f"{BASE_URL}/cn/{BOX}", f"https://id.gs1.org/01/{GTIN}/21/GBOX7"],
    }
    exported = json.dumps(events)
    assert not any(key in exported for key in (case_key, box_key, gs1_key))  # no digest key anywhere
    # the GS1 box is found by its Digital Link, the 20-digit box by its code, as the packages they are
    for epc, parent in ((uri(BOX), f"{BASE_URL}/cn/{CASE}"), (uri(CASE), f"https://id.gs1.org/00/{PALLET}")):
        found = client.get("/epcis/events", params={"MATCH_epc": epc}, headers=maker.headers).json()
        parents = [e.get("parentID") for e in found["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
        assert parent in parents


def test_a_package_without_a_printed_code_is_exported_by_its_key(client, runtime, maker, family):
    """A package imported before its container kept the printed code (the column is empty) is still exported by
    the code a native event was sent with, and otherwise by its key: nothing fails on a missing code."""
    with runtime.sessions() as session, session.begin():
        session.execute(update(Container).values(code=None))
    response = client.post(
        "/v1/events", json={"events": [{"action": "unpack", "codes": [CASE]}]}, headers=maker.headers
    )
    assert response.status_code == 201, response.text
    listed = client.get("/epcis/events", params={"EQ_bizStep": "unpacking"}, headers=maker.headers).json()
    (opened,) = listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert opened["parentID"] == f"{BASE_URL}/cn/{CASE}"  # the code the unpack was sent with
    assert opened["childEPCs"] == [f"https://id.gs1.org/00/{container_key(BOX, CodeKind.CN)}"]
