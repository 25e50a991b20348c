"""Import of codes issued elsewhere with their package levels (issue 15): streamed NDJSON or CSV, all or nothing,
refusals naming the line; package codes stand for everything inside them, as an SSCC does."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import trace
from app.db.models import Container, ContainerLot, Containment, Event, Issuance, Unit
from tests.helpers import GTIN, assert_problem, ok, post, race, verify

NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}
CASE = "81234567000000000001"  # 20-digit package codes (a case, two boxes)
BOXES = ["81234567000000000101", "81234567000000000102"]


def unit(serial: str) -> str:
    return f"https://example.com/01/{GTIN}/21/{serial}"


def family() -> list[dict[str, Any]]:
    """A case of two boxes of three units each; children before parents, as issuers' files often come."""
    lines: list[dict[str, Any]] = []
    for b, box in enumerate(BOXES):
        lines += [{"code": unit(f"U{b}{i}"), "parent": box} for i in range(3)]
    lines += [{"code": box, "parent": CASE} for box in BOXES]
    return [*lines, {"code": CASE, "parent": None}]


def ndjson(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def chunked(data: bytes, size: int = 7) -> Any:
    """The body in small pieces, so lines cross chunk boundaries."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def imported(client, maker, batch, body, headers=NDJSON) -> Any:
    return client.post(f"/v1/batches/{batch['id']}/codes/import", content=body, headers={**maker.headers, **headers})


def counts(runtime) -> tuple[int, int, int, int]:
    with runtime.sessions() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(m)) for m in (Unit, Container, ContainerLot, Issuance)
        )


def test_import_three_levels_then_ship_the_case(client, runtime, maker, batch, make_org):
    response = imported(client, maker, batch, chunked(ndjson(family())))
    assert response.status_code == 201, response.text
    assert response.json() | {"issuance_id": None} == {
        "imported": 9,
        "units": 6,
        "packages": 3,
        "levels": 3,
        "issuance_id": None,
    }
    assert verify(client, unit("U00"))["state"] == "issued"
    with runtime.sessions() as session:
        lots = dict(session.execute(select(ContainerLot.sscc, ContainerLot.units)).all())
    assert sorted(lots.values()) == [3, 3, 6]

    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [CASE], "to": dist.id, "region": "CN-31"}))
    for code in (unit("U00"), unit("U12")):
        assert verify(client, code)["state"] == "in_supply_chain"
    history = client.get(f"/v1/units/{GTIN}/U00/history", headers=maker.headers).json()
    assert [e["action"] for e in history["events"]] == ["ship"]  # through its box and case, as an SSCC's
    # The box moved with its case: only the addressee may receive, and receiving the case receives it all.
    assert_problem(post(client, maker, {"action": "ship", "codes": [BOXES[0]], "to": dist.id}), 409, "in_transit")
    ok(post(client, dist, {"action": "receive", "codes": [CASE]}))

    # Opening the case is explicit: a box stays inside until the case is unpacked.
    with runtime.sessions() as session:
        inside = session.scalar(select(func.count()).select_from(Container).where(Container.parent_sscc.is_not(None)))
    assert inside == 2
    ok(post(client, dist, {"action": "unpack", "codes": [CASE]}))
    with runtime.sessions() as session:
        inside = session.scalar(select(func.count()).select_from(Container).where(Container.parent_sscc.is_not(None)))
        held = session.scalars(select(Container.holder_id).where(Container.parent_sscc.is_(None))).all()
    assert inside == 0 and set(held) == {dist.id}
    pharmacy = make_org("retailer", "drug_retail")
    ok(post(client, dist, {"action": "ship", "codes": [BOXES[1]], "to": pharmacy.id}))
    assert verify(client, unit("U10"))["state"] == "in_supply_chain"
    ok(post(client, pharmacy, {"action": "receive", "codes": [BOXES[1]]}))
    assert_problem(post(client, dist, {"action": "ship", "codes": [unit("U11")], "to": dist.id}), 409, "not_custodian")


def test_csv_import(client, runtime, maker, batch):
    rows = ["code,parent", *(f"{line['code']},{line['parent'] or ''}" for line in family())]
    response = imported(client, maker, batch, ("\r\n".join(rows) + "\r\n").encode(), CSV)
    assert response.status_code == 201, response.text
    assert response.json()["units"] == 6
    assert counts(runtime)[:2] == (6, 3)


def test_all_or_nothing_when_line_5000_is_bad(client, runtime, maker, batch):
    lines = [{"code": unit(f"S{i:05d}"), "parent": None} for i in range(6_000)]
    body = ndjson(lines).split(b"\n")
    body[4_999] = b'{"code": "https://example.com/01/09506000134352/21/bad serial"}'
    before = counts(runtime)
    problem = assert_problem(imported(client, maker, batch, chunked(b"\n".join(body), 65_536)), 422, "invalid_code")
    assert problem["detail"].startswith("line 5000:") and problem["line"] == 5000
    assert counts(runtime) == before


def test_refusals_name_the_line(client, runtime, maker, batch):
    before = counts(runtime)
    lines = family()
    duplicate = [*lines, {"code": unit("U01"), "parent": BOXES[1]}]
    problem = assert_problem(imported(client, maker, batch, ndjson(duplicate)), 422, "duplicate_code")
    assert problem["line"] == 10 and "first on line 2" in problem["detail"]

    orphan = [*lines[:-1], {"code": CASE, "parent": "81234567000000009999"}]
    problem = assert_problem(imported(client, maker, batch, ndjson(orphan)), 422, "unknown_parent")
    assert problem["line"] == 9

    cycle = [*lines[:-1], {"code": CASE, "parent": BOXES[0]}]
    problem = assert_problem(imported(client, maker, batch, ndjson(cycle)), 422, "import_cycle")
    assert problem["detail"].startswith("line 7:")  # the first package on the cycle

    malformed = assert_problem(imported(client, maker, batch, b'{"code": 1}\n'), 422, "invalid_import_line")
    assert malformed["line"] == 1
    short = assert_problem(imported(client, maker, batch, b'{"code": "8123456700000000001"}\n'), 422, "invalid_cn_code")
    assert "19" in short["detail"] and short["line"] == 1
    header = assert_problem(imported(client, maker, batch, b"serial,box\n", CSV), 422, "invalid_import_line")
    assert header["line"] == 1
    sscc_unit = assert_problem(
        imported(client, maker, batch, b'{"code": "(00)106141411234567897"}\n'), 422, "not_a_unit_of_batch"
    )
    assert "SSCC" in sscc_unit["detail"]
    assert_problem(imported(client, maker, batch, b"", NDJSON), 422, "empty_import")
    assert_problem(
        imported(client, maker, batch, b"{}", {"Content-Type": "application/json"}), 415, "unsupported_media_type"
    )
    assert counts(runtime) == before

    assert imported(client, maker, batch, ndjson(lines)).status_code == 201
    problem = assert_problem(imported(client, maker, batch, ndjson(lines)), 409, "code_taken")
    assert problem["line"] == 1


def test_only_the_products_manufacturer_imports(client, maker, batch, make_org):
    other = make_org("manufacturer", "drug_manufacturing")
    assert_problem(imported(client, other, batch, ndjson(family())), 403, "foreign_batch")
    dist = make_org("distributor", "drug_wholesale")
    assert imported(client, dist, batch, ndjson(family())).status_code == 403


def test_twenty_digit_units_of_a_product_with_its_drug_id(client, runtime, maker, make_org):
    gtin = "04006381333931"
    body = {"gtin": gtin, "name": "阿莫西林胶囊", "category": "drug_rx", "cn_drug_id": "8123456"}
    assert client.post("/v1/products", json=body, headers=maker.headers).status_code == 201
    lot = {"gtin": gtin, "lot": "CN1", "manufactured_on": "2026-01-01", "expires_on": "2028-01-01"}
    batch = client.post("/v1/batches", json=lot, headers=maker.headers).json()
    case = "81234560000000000000"  # a package code may share its product's prefix
    units = [f"812345600000000000{i:02d}" for i in range(1, 4)]
    lines = [{"code": code, "parent": case} for code in units] + [{"code": case, "parent": ""}]
    response = imported(client, maker, batch, ndjson(lines))
    assert response.status_code == 201, response.text
    assert response.json()["units"] == 3 and response.json()["packages"] == 1
    with runtime.sessions() as session:
        serials = session.scalars(select(Unit.serial).where(Unit.gtin == gtin).order_by(Unit.serial)).all()
        issuance = session.scalars(select(Issuance).where(Issuance.batch_id == batch["id"])).one()
    assert serials == units and issuance.key_tag is None and issuance.count == 3  # unsigned, like EPCIS commissioning
    assert verify(client, f"https://example.com/01/{gtin}/21/{units[0]}")["state"] == "issued"

    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [case], "to": dist.id}))
    assert verify(client, f"https://example.com/01/{gtin}/21/{units[2]}")["state"] == "in_supply_chain"

    foreign = [{"code": "91234560000000000001", "parent": None}]
    problem = assert_problem(imported(client, maker, batch, ndjson(foreign)), 422, "not_a_unit_of_batch")
    assert "8123456" in problem["detail"] and problem["line"] == 1


def test_progress_of_an_import(client, maker, batch, make_org):
    path = f"/v1/batches/{batch['id']}/codes/import"
    assert_problem(client.get(path, headers=maker.headers), 404, "no_import")
    assert imported(client, maker, batch, ndjson(family())).status_code == 201
    done = client.get(path, headers=maker.headers).json()
    assert done["phase"] == "done" and done["lines"] == 9 and done["units"] == 6
    assert_problem(imported(client, maker, batch, b'{"code": "x"}\n'), 422, "invalid_code")
    refused = client.get(path, headers=maker.headers).json()
    assert refused["phase"] == "refused" and refused["code"] == "invalid_code"
    other = make_org("manufacturer", "drug_manufacturing")
    assert_problem(client.get(path, headers=other.headers), 403, "foreign_batch")


@pytest.mark.postgres_only
def test_two_imports_of_the_same_codes_at_once_one_wins(client, runtime, maker, batch, pool):
    body = ndjson(family())
    responses = race(pool, [lambda: imported(client, maker, batch, body) for _ in range(3)])
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"code_taken"}
    assert counts(runtime)[:2] == (6, 3)


def logged(client: Any, org: Any) -> set[int]:
    """The events whose log entries ``org`` may read (the others are withheld as None)."""
    body = client.get("/v1/log/entries", params={"start": 0, "end": 1000}, headers=org.headers).json()
    return {json.loads(base64.b64decode(e))["event_id"] for e in body["entries"] if e is not None}


def test_a_unit_gets_its_containment_row_only_when_it_leaves_its_package(client, runtime, maker, batch, make_org):
    """The import writes containment rows for its packages only; a unit's row is written, closed from the import's
    event, when it leaves its package (its package opened, or the unit taken out on its own). Histories, recall
    traces, the audit replay and EPCIS visibility read the same intervals as when every unit had its row."""
    assert imported(client, maker, batch, ndjson(family())).status_code == 201
    with runtime.sessions() as session:
        rows = session.execute(select(Containment.unit_id, Containment.child_sscc)).all()
        issuance = session.scalars(select(Issuance)).one()
        packed = session.get(Event, issuance.event_id)
    assert [unit_id for unit_id, _ in rows] == [None, None] and len({child for _, child in rows}) == 2
    assert packed is not None and packed.action == "pack" and packed.payload["import"]["units"] == 6

    dist = make_org("distributor", "drug_wholesale", gln="0614141000005")
    shop = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": [CASE], "to": dist.id}))
    received = ok(post(client, dist, {"action": "receive", "codes": [CASE]}))[0]["event_id"]
    # no unit has a row yet: the manufacturer sees the distributor's receipt through the units in the case's boxes
    listed = client.get("/epcis/events", headers=maker.headers).json()
    seen = [e["passport:action"] for e in listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert seen == ["pack", "ship", "receive"]
    # and reads it in the log, as the goods' maker; an organisation not party to it does not
    assert received in logged(client, maker) and received not in logged(client, shop)
    ok(post(client, dist, {"action": "unpack", "codes": [CASE]}))
    ok(post(client, dist, {"action": "ship", "codes": [BOXES[0]], "to": shop.id}))
    # a box of the distributor's: the shipment is the manufacturer's to see through the units still in it
    listed = client.get("/epcis/events", headers=maker.headers).json()
    seen = [e["passport:action"] for e in listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert seen == ["pack", "ship", "receive", "unpack", "ship"]
    ok(post(client, shop, {"action": "receive", "codes": [BOXES[0]]}))
    opened = ok(post(client, shop, {"action": "unpack", "codes": [BOXES[0]]}))[0]["event_id"]
    repacked = ok(post(client, dist, {"action": "pack", "codes": [unit("U10")], "container": "(00)106141411234567897"}))
    pack_id = repacked[0]["event_id"]

    with runtime.sessions() as session:
        by_serial = dict(session.execute(select(Unit.serial, Unit.id)).all())
        rows = session.execute(
            select(Containment.unit_id, Containment.packed_event_id, Containment.unpacked_event_id).where(
                Containment.unit_id.is_not(None)
            )
        ).all()
    written = {(u, p, e) for u, p, e in rows}
    assert written == {
        *((by_serial[f"U0{i}"], packed.id, opened) for i in range(3)),  # their box opened: closed at the unpack
        (by_serial["U10"], packed.id, pack_id),  # taken out of its box into a case of its own
        (by_serial["U10"], pack_id, None),
    }  # U11 and U12 are still in their box: no row

    def actions(serial: str) -> list[str]:
        history = client.get(f"/v1/units/{GTIN}/{serial}/history", headers=maker.headers).json()
        return [e["action"] for e in history["events"]]

    assert actions("U00") == ["ship", "receive", "ship", "receive"]  # the case's moves, then the box's
    assert actions("U11") == ["ship", "receive"]  # still in its box, the case's moves
    assert actions("U10") == ["ship", "receive", "pack"]

    # A recall trace of two serials counts their shipments through the case and the box (the trace's own query).
    with runtime.engine.connect() as conn:
        shipped = trace.hops(conn, trace.scope_of(conn, GTIN, [], ["U00", "U11"]))
    assert sorted(shipped) == sorted([(maker.id, dist.id, 2), (dist.id, shop.id, 1)])

    # The manufacturer sees in EPCIS the distributor's moves of its units inside the case and the box.
    listed = client.get("/epcis/events", headers=maker.headers).json()
    seen = [e["passport:action"] for e in listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
    assert seen.count("receive") == 2 and "unpack" in seen
    outsider = make_org("manufacturer", "drug_manufacturing")
    listed = client.get("/epcis/events", headers=outsider.headers).json()
    assert listed["epcisBody"]["queryResults"]["resultsBody"]["eventList"] == []
