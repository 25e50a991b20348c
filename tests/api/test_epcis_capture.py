"""EPCIS 2.0 capture: GS1's example documents, the custody mapping, external history, errors and limits.

A journey captured as EPCIS and the same journey sent as native events must leave identical unit histories
and verdicts: both go through the same recorder."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db.models import Alert, EpcisEpc, EpcisEvent, Event, Unit
from app.domain.epcis import canonical_identifier
from tests.epcis_examples import example_files
from tests.helpers import BASE_URL, GTIN, assert_problem, settings_for

EXAMPLES = example_files()
CONTEXT = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"example": "http://ns.example.com/epcis/"},
]
JSON = {"Accept": "application/json"}
GLN_DIST = "0614141000005"
GLN_PHARM = "0614141000012"
SSCC = "106141411234567897"


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def at(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def object_event(epcs: list[str], biz_step: str, minutes: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": at(minutes),
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "action": extra.pop("action", "OBSERVE"),
        "bizStep": biz_step,
        **extra,
    }


def party(gln: str) -> list[dict[str, str]]:
    return [{"type": "owning_party", "destination": f"urn:epc:id:pgln:{gln[:7]}.{gln[7:12]}"}]


def capture(client, org, doc: dict[str, Any] | bytes, behaviour: str | None = None) -> dict[str, Any]:
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    if behaviour:
        headers["GS1-Capture-Error-Behaviour"] = behaviour
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    response = client.post("/epcis/capture", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/epcis/capture/{response.json()['captureID']}"
    job = client.get(response.headers["location"], headers=org.headers)
    assert job.status_code == 200, job.text
    body_json: dict[str, Any] = job.json()
    assert body_json["running"] is False
    return body_json


def urn(serial: str, gtin: str = GTIN) -> str:
    """The SGTIN URN of a unit of GTIN 09506000134352 (company prefix 9506000, 7 digits)."""
    assert gtin == GTIN
    return f"urn:epc:id:sgtin:9506000.013435.{serial}"


def dl(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/21/{serial}"


# The events happen up to two hours ago (``at``), which just after midnight (UTC) is yesterday: the organisations
# hold their licences from yesterday on, or between 00:00 and 02:00 every event would be refused licence_required.
SINCE = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def maker(make_org):
    return make_org("manufacturer", "drug_manufacturing", licensed_from=SINCE)


@pytest.fixture
def chain(make_org):
    return {
        "distributor": make_org("distributor", "drug_wholesale", gln=GLN_DIST, licensed_from=SINCE),
        "pharmacy": make_org("retailer", "drug_retail", gln=GLN_PHARM, licensed_from=SINCE),
    }


# ------------------------------------------------------------------------------------------ the examples


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_gs1_example_is_captured_as_external_history(client, runtime, maker, path):
    """GS1's examples name identifiers and parties nobody registered here: each is accepted, kept and flagged,
    and changes no custody."""
    doc = json.loads(path.read_text())
    job = capture(client, maker, doc)
    assert job["success"] is True, job["errors"]
    body = doc["epcisBody"]
    events = body["queryResults"]["resultsBody"]["eventList"] if "queryResults" in body else body["eventList"]
    assert job["eventCount"] == len(events)
    assert job["capturedCount"] + job["duplicateCount"] == len(events)
    with runtime.sessions() as session:
        rows = session.scalars(select(EpcisEvent)).all()
        assert len(rows) == job["capturedCount"]
        assert session.scalar(select(func.count()).select_from(Event)) == 0
        for row in rows:
            assert row.custody in ("none", "external")
            assert row.native_event_id is None
            sent = next(e for e in events if e.get("eventID", row.event_id) == row.event_id)
            # recordTime is the server's, whatever the sender wrote
            stored = {k: v for k, v in row.document.items() if k != "recordTime"}
            assert stored == {**{k: v for k, v in sent.items() if k != "recordTime"}, "eventID": row.event_id}
            assert row.document["recordTime"].endswith("Z")


def test_the_same_document_twice_is_kept_once(client, runtime, maker):
    doc = json.loads(EXAMPLES[0].read_text())
    first = capture(client, maker, doc)
    again = capture(client, maker, doc)
    assert (first["capturedCount"], again["capturedCount"], again["duplicateCount"]) == (1, 0, 1)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EpcisEvent)) == 1


def test_the_event_hash_is_the_reference_one_and_names_events_without_id(client, runtime, maker):
    """An event sent without eventID is named by its CBV 2.0 hash; the hash ignores how identifiers are written
    (URN or Digital Link) and the order of lists, so the same event written the other way is a duplicate."""
    event = object_event([urn("A1"), urn("B2")], "inspecting", 1)
    job = capture(client, maker, document(event))
    assert job["capturedCount"] == 1
    other_form = object_event([dl("B2"), dl("A1")], "inspecting", 1)
    other_form["eventTime"] = event["eventTime"]
    again = capture(client, maker, document(other_form))
    assert (again["capturedCount"], again["duplicateCount"]) == (0, 1)
    with runtime.sessions() as session:
        row = session.scalars(select(EpcisEvent)).one()
        assert row.event_id.startswith("ni:///sha-256;") and row.event_id.endswith("?ver=CBV2.0")
        assert row.event_id == row.event_hash


# ------------------------------------------------------------------------------------------ custody


def native_journey(client, maker, chain, uri: str) -> None:
    dist, pharm = chain["distributor"], chain["pharmacy"]
    for org, body in (
        (maker, {"action": "ship", "codes": [uri], "to": dist.id}),
        (dist, {"action": "receive", "codes": [uri]}),
        (dist, {"action": "ship", "codes": [uri], "to": pharm.id}),
        (pharm, {"action": "receive", "codes": [uri]}),
        (pharm, {"action": "sell", "codes": [uri], "channel": "offline"}),
    ):
        response = client.post("/v1/events", json=body, headers=org.headers)
        assert response.status_code == 201, response.text


def epcis_journey(client, maker, chain, serial: str) -> None:
    dist, pharm = chain["distributor"], chain["pharmacy"]
    steps = [
        (maker, object_event([urn(serial)], "shipping", 1, disposition="in_transit", destinationList=party(GLN_DIST))),
        (dist, object_event([dl(serial)], "receiving", 2, disposition="in_progress")),
        (dist, object_event([urn(serial)], "shipping", 3, disposition="in_transit", destinationList=party(GLN_PHARM))),
        (pharm, object_event([dl(serial)], "receiving", 4, disposition="in_progress")),
        (pharm, object_event([urn(serial)], "retail_selling", 5, disposition="retail_sold")),
    ]
    for org, event in steps:
        job = capture(client, org, document(event))
        assert job["success"] is True, job["errors"]
        assert job["capturedCount"] == 1


def history_shape(client, org, serial: str) -> list[tuple[Any, ...]]:
    response = client.get(f"/v1/units/{GTIN}/{serial}/history", headers=org.headers)
    assert response.status_code == 200, response.text
    return [
        (e["action"], e["org"]["id"], (e["to"] or {}).get("id"), e["via_container"]) for e in response.json()["events"]
    ]


def test_a_journey_captured_as_epcis_equals_the_same_journey_sent_natively(client, runtime, maker, batch, issue, chain):
    native_code, epcis_code = issue(batch["id"], 2)
    native_journey(client, maker, chain, native_code["uri"])
    epcis_journey(client, maker, chain, epcis_code["serial"])
    assert history_shape(client, maker, native_code["serial"]) == history_shape(client, maker, epcis_code["serial"])
    assert [e[0] for e in history_shape(client, maker, epcis_code["serial"])] == [
        "ship",
        "receive",
        "ship",
        "receive",
        "sell",
    ]
    verdicts = [client.get(c["uri"].replace(BASE_URL, ""), headers=JSON).json() for c in (native_code, epcis_code)]
    assert verdicts[0]["state"] == verdicts[1]["state"] == "sold"
    assert verdicts[0]["verdict"] == verdicts[1]["verdict"] == "authentic"
    with runtime.sessions() as session:
        rows = session.scalars(select(EpcisEvent).order_by(EpcisEvent.id)).all()
        assert [r.custody for r in rows] == ["applied"] * 5
        assert all(r.native_event_id is not None for r in rows)
        unit_epcs = session.scalars(select(EpcisEpc).where(EpcisEpc.role == "epc")).all()
        assert {e.epc for e in unit_epcs} == {dl(epcis_code["serial"])}  # URN and Digital Link: one form
        assert all(e.unit_id is not None for e in unit_epcs)


def test_a_capture_breaking_a_custody_rule_is_rejected_with_the_native_code(
    client, runtime, maker, batch, issue, chain
):
    native, captured = issue(batch["id"], 2)
    pharm = chain["pharmacy"]
    for action, biz_step, minutes in (("receive", "receiving", 1), ("sell", "retail_selling", 2)):
        body = {"action": action, "codes": [native["uri"]], "channel": "offline" if action == "sell" else None}
        refusal = client.post("/v1/events", json={k: v for k, v in body.items() if v}, headers=pharm.headers)
        assert refusal.status_code == 409, refusal.text
        job = capture(client, pharm, document(object_event([dl(captured["serial"])], biz_step, minutes)))
        assert job["success"] is False
        [error] = job["errors"]
        assert error["code"] == refusal.json()["code"]
        assert (error["index"], error["title"]) == (0, refusal.json()["title"])
        assert "event 0" in error["detail"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EpcisEvent)) == 0
        # each refusal left its alert (a receipt nobody shipped, a sale by a non-holder), captured as native:
        # one open alert per code and kind, counting both
        alerts = session.execute(select(Alert.type, Alert.serial, Alert.count).where(Alert.org_id == pharm.id)).all()
        assert sorted(a.serial for a in alerts) == sorted([native["serial"], captured["serial"]])
        assert {(a.type, a.count) for a in alerts} == {("custody_violation", 2)}


def test_rollback_rejects_everything_and_proceed_keeps_the_good_events(client, runtime, maker, batch, issue, chain):
    code = issue(batch["id"], 1)[0]
    good = object_event([dl(code["serial"])], "shipping", 1, destinationList=party(GLN_DIST))
    broken = object_event([dl(code["serial"])], "retail_selling", 2)
    invalid = object_event(["not a uri"], "inspecting", 3)
    invalid["action"] = "SOMETIMES"
    job = capture(client, maker, document(good, broken, invalid))
    assert (job["success"], job["capturedCount"]) == (False, 0)
    # the whole document is validated before anything is applied; nothing is captured
    assert [(e["index"], e["code"]) for e in job["errors"]] == [(2, "schema_validation_failed")]
    job = capture(client, maker, document(good, broken))
    assert [(e["index"], e["code"]) for e in job["errors"]] == [(1, "in_transit")]  # rollback stops at the first
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
    job = capture(client, maker, document(good, broken, invalid), behaviour="proceed")
    assert (job["success"], job["capturedCount"]) == (False, 1)
    assert [(e["index"], e["code"]) for e in job["errors"]] == [
        (1, "in_transit"),  # shipped by the first event, so no longer sellable
        (2, "schema_validation_failed"),
    ]
    assert "$.epcList[0]: 'not a uri' is not a 'uri'" in job["errors"][1]["detail"]
    state = client.get(code["uri"].replace(BASE_URL, ""), headers=JSON).json()["state"]
    assert state == "in_supply_chain"


def test_packing_and_a_pallet_hop_move_every_unit(client, runtime, maker, batch, issue, chain):
    codes = issue(batch["id"], 3)
    dist = chain["distributor"]
    pack = {
        "type": "AggregationEvent",
        "eventTime": at(1),
        "eventTimeZoneOffset": "+00:00",
        "parentID": f"urn:epc:id:sscc:0614141.{SSCC[0]}{SSCC[8:17]}",
        "childEPCs": [urn(c["serial"]) for c in codes],
        "action": "ADD",
        "bizStep": "packing",
    }
    assert canonical_identifier(pack["parentID"]).sscc == SSCC
    ship = object_event([f"https://example.com/00/{SSCC}"], "shipping", 2, destinationList=party(GLN_DIST))
    receive = object_event([f"urn:epc:id:sscc:0614141.{SSCC[0]}{SSCC[8:17]}"], "receiving", 3)
    assert capture(client, maker, document(pack, ship))["success"] is True
    assert capture(client, dist, document(receive))["success"] is True
    unpack = {**pack, "eventTime": at(4), "action": "DELETE", "bizStep": "unpacking", "childEPCs": []}
    assert capture(client, dist, document(unpack))["success"] is True
    with runtime.sessions() as session:
        units = session.scalars(select(Unit).where(Unit.gtin == GTIN)).all()
        assert {(u.state, u.holder_id, u.container_sscc) for u in units} == {("held", dist.id, None)}


def test_unknown_identifiers_and_parties_are_kept_as_flagged_external_history(client, runtime, maker, batch, issue):
    code = issue(batch["id"], 1)[0]
    stranger = object_event([dl("NEVERISSUED1")], "shipping", 1, destinationList=party(GLN_DIST))
    nowhere = object_event([dl(code["serial"])], "shipping", 2, destinationList=party("4012345000009"))
    job = capture(client, maker, document(stranger, nowhere))
    assert job["success"] is True and job["capturedCount"] == 2
    with runtime.sessions() as session:
        rows = session.scalars(select(EpcisEvent).order_by(EpcisEvent.id)).all()
        assert [r.custody for r in rows] == ["external", "external"]
        assert "never issued or commissioned here" in rows[0].notes[0]
        assert "is no organisation here" in rows[1].notes[0]
        assert session.scalar(select(func.count()).select_from(Event)) == 0
    assert client.get(code["uri"].replace(BASE_URL, ""), headers=JSON).json()["state"] == "issued"


def test_a_shipment_with_no_destination_is_refused_like_a_native_one(client, maker, batch, issue):
    code = issue(batch["id"], 1)[0]
    job = capture(client, maker, document(object_event([dl(code["serial"])], "shipping", 1)))
    assert job["errors"][0]["code"] == "destination_required"


# ------------------------------------------------------------------------------------------ commissioning


def commissioning(serials: list[str], lot: str | None = "EXT1", expiry: str | None = None) -> dict[str, Any]:
    event = object_event([urn(s) for s in serials], "commissioning", 1, action="ADD", disposition="active")
    ilmd: dict[str, str] = {}
    if lot:
        ilmd["cbvmda:lotNumber"] = lot
    ilmd["cbvmda:itemExpirationDate"] = expiry or (date.today() + timedelta(days=400)).isoformat()
    event["ilmd"] = ilmd
    return event


def test_commissioning_registers_externally_serialised_units_that_verify_without_signature(
    client, runtime, maker, product, chain
):
    job = capture(client, maker, document(commissioning(["X100", "X101"])))
    assert job["success"] is True, job["errors"]
    scan = client.get(f"/01/{GTIN}/21/X100", headers=JSON).json()
    assert (scan["verdict"], scan["signature"], scan["state"], scan["lot"]) == ("authentic", "absent", "issued", "EXT1")
    # and they move like any unit
    ship = object_event([urn("X100")], "shipping", 2, destinationList=party(GLN_DIST))
    assert capture(client, maker, document(ship))["success"] is True
    assert client.get(f"/01/{GTIN}/21/X100", headers=JSON).json()["state"] == "in_supply_chain"
    # commissioning them again changes nothing and says so
    again = commissioning(["X100"])
    again["eventTime"] = at(3)
    assert capture(client, maker, document(again))["success"] is True
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Unit)) == 2
        last = session.scalars(select(EpcisEvent).order_by(EpcisEvent.id.desc())).first()
        assert last is not None and "already issued" in last.notes[0]


def test_commissioning_rules(client, runtime, maker, product, make_org):
    no_lot = capture(client, maker, document(commissioning(["Y1"], lot=None)))
    assert no_lot["errors"][0]["code"] == "ilmd_required"
    first = capture(client, maker, document(commissioning(["Y2"], expiry="2030-01-01")))
    assert first["success"] is True
    other_expiry = commissioning(["Y3"], expiry="2031-01-01")
    assert capture(client, maker, document(other_expiry))["errors"][0]["code"] == "lot_mismatch"
    rival = make_org("manufacturer", "drug_manufacturing", licensed_from=SINCE)
    foreign = capture(client, rival, document(commissioning(["Y4"])))
    assert foreign["success"] is True  # kept, flagged, nothing registered
    with runtime.sessions() as session:
        assert session.scalars(select(Unit.serial)).all() == ["Y2"]
        assert session.scalars(select(EpcisEvent.custody).where(EpcisEvent.org_id == rival.id)).one() == "external"


def test_a_recalled_disposition_opens_a_recall_that_verification_reports(client, runtime, maker, batch, issue):
    code = issue(batch["id"], 1)[0]
    event = object_event([dl(code["serial"])], "holding", 1, disposition="recalled")
    job = capture(client, maker, document(event))
    assert job["success"] is True, job["errors"]
    scan = client.get(code["uri"].replace(BASE_URL, ""), headers=JSON).json()
    assert scan["verdict"] == "recalled"
    assert "EPCIS" in scan["recall"]["reason"]


def test_an_error_declaration_is_kept_beside_the_event_it_declares_wrong(client, runtime, maker):
    event = object_event([urn("Z1")], "inspecting", 1, eventID="urn:uuid:6c4c1a2e-2f7e-4d4a-9a53-0c3c7c0b1f10")
    declared = copy.deepcopy(event)
    declared["errorDeclaration"] = {"declarationTime": at(30), "reason": "incorrect_data"}
    assert capture(client, maker, document(event))["capturedCount"] == 1
    assert capture(client, maker, document(declared))["capturedCount"] == 1
    with runtime.sessions() as session:
        rows = session.execute(select(EpcisEvent.kind, EpcisEvent.event_id).order_by(EpcisEvent.id)).all()
        assert [r.kind for r in rows] == ["event", "error_declaration"]
        assert rows[0].event_id == rows[1].event_id


def test_an_event_id_cannot_name_two_different_events(client, maker):
    first = object_event([urn("Q1")], "inspecting", 1, eventID="urn:uuid:11111111-2222-4333-8444-555555555555")
    second = {**first, "epcList": [urn("Q2")]}
    assert capture(client, maker, document(first))["success"] is True
    assert capture(client, maker, document(second))["errors"][0]["code"] == "event_id_taken"


# ------------------------------------------------------------------------------------------ the request


def test_bad_requests_are_refused_before_a_job_exists(client, maker):
    h = {**maker.headers, "Content-Type": "application/json"}
    assert_problem(client.post("/epcis/capture", content=b"{nope", headers=h), 422, "invalid_json")
    assert_problem(
        client.post("/epcis/capture", json={"type": "Other"}, headers=maker.headers), 422, "invalid_epcis_document"
    )
    no_version = document()
    del no_version["schemaVersion"]
    assert_problem(
        client.post("/epcis/capture", json=no_version, headers=maker.headers), 422, "schema_validation_failed"
    )
    remote = {**document(), "@context": [*CONTEXT, "https://contexts.example.com/mine.jsonld"]}
    assert_problem(client.post("/epcis/capture", json=remote, headers=maker.headers), 422, "remote_context_refused")
    text = {**maker.headers, "Content-Type": "text/plain"}
    assert_problem(client.post("/epcis/capture", content=b"{}", headers=text), 415, "unsupported_media_type")
    odd = {**h, "GS1-Capture-Error-Behaviour": "sometimes"}
    assert_problem(client.post("/epcis/capture", json=document(), headers=odd), 422, "invalid_header")
    assert_problem(client.post("/epcis/capture", json=document()), 401, "missing_api_key")
    assert client.get("/epcis/capture", headers=maker.headers).json() == []


def test_limits_are_advertised_and_enforced(database_url, maker):
    from fastapi.testclient import TestClient

    from app.main import create_app

    settings = settings_for(database_url, epcis_capture_limit=2, epcis_capture_max_bytes=4096)
    with TestClient(create_app(settings)) as client:
        options = client.options("/epcis/capture", headers=maker.headers)
        assert options.status_code == 204
        assert options.headers["GS1-EPCIS-Capture-Limit"] == "2"
        assert options.headers["GS1-EPCIS-Capture-File-Size-Limit"] == "4096"
        three = document(*(object_event([urn(f"L{i}")], "inspecting", i) for i in range(3)))
        assert_problem(client.post("/epcis/capture", json=three, headers=maker.headers), 413, "capture_limit_exceeded")
        big = document(object_event([urn(f"B{i}") for i in range(200)], "inspecting", 1))
        assert_problem(client.post("/epcis/capture", json=big, headers=maker.headers), 413, "payload_too_large")
        assert client.get("/epcis/capture", headers=maker.headers).json() == []


def test_a_capture_job_is_visible_only_to_its_organisation(client, maker, make_org):
    job = capture(client, maker, document(object_event([urn("V1")], "inspecting", 1)))
    stranger = make_org("retailer", "drug_retail", licensed_from=SINCE)
    response = client.get(f"/epcis/capture/{job['captureID']}", headers=stranger.headers)
    assert_problem(response, 404, "capture_not_found")
    regulator = make_org("regulator")
    assert client.get(f"/epcis/capture/{job['captureID']}", headers=regulator.headers).status_code == 200
    assert [j["captureID"] for j in client.get("/epcis/capture", headers=maker.headers).json()] == [job["captureID"]]


def test_proceed_commits_in_chunks_and_counts_every_event(client, runtime, maker, batch, issue, chain, monkeypatch):
    from app.services.epcis import run

    monkeypatch.setattr(run, "PROCEED_CHUNK", 2)
    codes = issue(batch["id"], 4)
    events = [
        object_event([dl(c["serial"])], "shipping", i, destinationList=party(GLN_DIST)) for i, c in enumerate(codes)
    ]
    events.insert(2, object_event([dl(codes[0]["serial"])], "retail_selling", 9))  # refused: in transit
    job = capture(client, maker, document(*events), behaviour="proceed")
    assert (job["capturedCount"], job["duplicateCount"]) == (4, 0)
    assert [(e["index"], e["code"]) for e in job["errors"]] == [(2, "in_transit")]
    states = {client.get(c["uri"].replace(BASE_URL, ""), headers=JSON).json()["state"] for c in codes}
    assert states == {"in_supply_chain"}


def test_rx_dispensing_needs_the_prescription_a_native_dispense_needs(client, runtime, maker, make_org, issue):
    from app.domain.identifiers import check_digit

    gtin = "0950600013437"
    gtin += check_digit(gtin)
    assert (
        client.post(
            "/v1/products", json={"gtin": gtin, "name": "Amoxicillin", "category": "drug_rx"}, headers=maker.headers
        ).status_code
        == 201
    )
    today = date.today()
    rx_batch = client.post(
        "/v1/batches",
        json={
            "gtin": gtin,
            "lot": "RX1",
            "manufactured_on": (today - timedelta(days=5)).isoformat(),
            "expires_on": (today + timedelta(days=500)).isoformat(),
        },
        headers=maker.headers,
    ).json()
    pharmacy = make_org("retailer", "drug_retail", gln=GLN_PHARM, licensed_from=SINCE)
    code = issue(rx_batch["id"], 1)[0]
    unit = f"https://id.gs1.org/01/{gtin}/21/{code['serial']}"
    ship = object_event([unit], "shipping", 1, destinationList=party(GLN_PHARM))
    assert capture(client, maker, document(ship))["success"] is True
    assert capture(client, pharmacy, document(object_event([unit], "receiving", 2)))["success"] is True
    bare = object_event([unit], "dispensing", 3, disposition="dispensed")
    assert capture(client, pharmacy, document(bare))["errors"][0]["code"] == "prescription_required"
    with_rx = {
        **object_event([unit], "dispensing", 4, disposition="dispensed"),
        "passport:prescription": {"id": "RX-778", "prescriber": "Dr Wang", "issued_at": at(0)},
    }
    passport_context = [*CONTEXT, {"passport": f"{BASE_URL}/epcis/vocab#"}]
    job = capture(client, pharmacy, {**document(with_rx), "@context": passport_context})
    assert job["success"] is True, job["errors"]
    assert client.get(code["uri"].replace(BASE_URL, ""), headers=JSON).json()["state"] == "dispensed"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"action": "SOMETIMES"}, "$.action"),
        ({"epcList": ["not a uri"]}, "$.epcList[0]"),
        ({"epcList": "urn:epc:id:sgtin:0614141.107346.2017"}, "$.epcList"),
        ({"eventTime": "yesterday"}, "$.eventTime"),
        ({"eventTimeZoneOffset": "UTC"}, "$.eventTimeZoneOffset"),
        ({"bizStep": "urn:epcglobal:cbv:bizstep:shipping"}, "$.bizStep"),
    ],
)
def test_schema_problems_name_the_path(change, where):
    from app.services.epcis.capture_schema import schema_problem

    event = {**object_event([urn("S1")], "shipping", 1), "@context": CONTEXT}
    assert schema_problem(event) is None
    problem = schema_problem({**event, **change})
    assert problem is not None and problem.startswith(where), problem
    missing = {k: v for k, v in event.items() if k != "eventTime"}
    assert schema_problem(missing) is not None


def test_the_fast_validator_agrees_with_the_reference_on_every_example():
    from app.services.epcis.capture_schema import schema_problem, schema_validator

    for path in EXAMPLES:
        doc = json.loads(path.read_text())
        body = doc["epcisBody"]
        events = body["queryResults"]["resultsBody"]["eventList"] if "queryResults" in body else body["eventList"]
        for event in events:
            instance = {**event, "@context": doc["@context"]}
            assert schema_validator().is_valid(instance)
            assert schema_problem(instance) is None


# ------------------------------------------------------------------------------------------ odd but valid input


def test_values_longer_than_their_columns_are_that_events_error(client, runtime, maker, batch, issue):
    code = issue(batch["id"], 1)[0]
    good = object_event([dl(code["serial"])], "inspecting", 1)
    long_id = object_event([urn("W1")], "inspecting", 2, eventID="urn:uuid:" + "a" * 600)
    long_region = {**object_event([dl(code["serial"])], "destroying", 3), "passport:region": "X" * 50}
    long_lot = commissioning(["W2"], lot="L" * 30)
    job = capture(client, maker, document(good, long_id, long_region, long_lot), behaviour="proceed")
    assert job["capturedCount"] == 1
    assert [(e["index"], e["code"]) for e in job["errors"]] == [
        (1, "value_too_long"),
        (2, "invalid_extension"),
        (3, "value_too_long"),
    ]


def test_a_malformed_event_costs_only_itself_in_proceed_mode(client, runtime, maker):
    broken = {**object_event([urn("M1")], "inspecting", 1), "epcList": 5}
    job = capture(client, maker, document(broken, object_event([urn("M2")], "inspecting", 2)), behaviour="proceed")
    assert job["capturedCount"] == 1
    assert [(e["index"], e["code"]) for e in job["errors"]] == [(0, "schema_validation_failed")]


def test_rfc3339_oddities_and_commissioning_one_unit_twice(client, runtime, maker, product):
    lower = object_event([urn("T1")], "inspecting", 1)
    lower["eventTime"] = lower["eventTime"].replace("T", "t").replace("Z", "z")
    leap = {**object_event([urn("T2")], "inspecting", 1), "eventTime": "2016-12-31T23:59:60Z"}
    twice = commissioning(["T3"])
    twice["epcList"] = [urn("T3"), dl("T3")]  # one unit, written two ways
    job = capture(client, maker, document(lower, leap, twice))
    assert job["success"] is True, job["errors"]
    with runtime.sessions() as session:
        assert session.scalars(select(Unit.serial)).all() == ["T3"]
    bad_date = commissioning(["T4"], lot="EXT2")  # a new lot: its production date is read
    bad_date["ilmd"]["cbvmda:productionDate"] = "garbage"
    assert capture(client, maker, document(bad_date))["errors"][0]["code"] == "invalid_date"


def test_aggregation_edge_cases(client, runtime, maker, batch, issue, chain):
    codes = issue(batch["id"], 3)
    parent = f"urn:epc:id:sscc:0614141.{SSCC[0]}{SSCC[8:17]}"
    pack = {
        "type": "AggregationEvent",
        "eventTime": at(1),
        "eventTimeZoneOffset": "+00:00",
        "parentID": parent,
        "childEPCs": [dl(c["serial"]) for c in codes],
        "action": "ADD",
        "bizStep": "packing",
    }
    assert capture(client, maker, document(pack))["success"] is True
    partial = {
        **pack,
        "eventTime": at(2),
        "action": "DELETE",
        "bizStep": "unpacking",
        "childEPCs": [dl(codes[0]["serial"])],
    }
    assert capture(client, maker, document(partial))["errors"][0]["code"] == "partial_unpack"
    whole = {**partial, "childEPCs": [urn(c["serial"]) for c in reversed(codes)]}
    assert capture(client, maker, document(whole))["success"] is True
    with runtime.sessions() as session:
        assert session.scalars(select(Unit.container_sscc)).all() == [None, None, None]
    not_sscc = {**pack, "eventTime": at(3), "parentID": urn("CASE1"), "childEPCs": [dl(codes[0]["serial"])]}
    job = capture(client, maker, document(not_sscc))
    assert job["success"] is True
    assert job["warnings"][0]["custody"] == "external" and "not an SSCC" in job["warnings"][0]["notes"][0]


def test_known_units_move_and_unknown_ones_are_reported(client, runtime, maker, batch, issue, chain):
    codes = issue(batch["id"], 2)
    event = object_event([dl(c["serial"]) for c in codes] + [dl("NEVERISSUED9")], "shipping", 1)
    event["destinationList"] = party(GLN_DIST)
    job = capture(client, maker, document(event))
    assert job["success"] is True
    [warning] = job["warnings"]
    assert (warning["index"], warning["custody"]) == (0, "applied")
    assert "NEVERISSUED9" in warning["notes"][0]
    states = {client.get(c["uri"].replace(BASE_URL, ""), headers=JSON).json()["state"] for c in codes}
    assert states == {"in_supply_chain"}


def test_recalled_goods_shipped_back_are_a_shipment_and_a_holder_quarantines(
    client, runtime, maker, batch, issue, chain
):
    codes = issue(batch["id"], 2)
    dist = chain["distributor"]
    ship = object_event([dl(c["serial"]) for c in codes], "shipping", 1, destinationList=party(GLN_DIST))
    assert capture(client, maker, document(ship))["success"] is True
    assert capture(client, dist, document(object_event([dl(c["serial"]) for c in codes], "receiving", 2)))["success"]
    held = object_event([dl(codes[0]["serial"])], "holding", 3, disposition="recalled")
    job = capture(client, dist, document(held))
    assert job["success"] is True, job["errors"]
    assert client.get(codes[0]["uri"].replace(BASE_URL, ""), headers=JSON).json()["state"] == "locked"
    back = object_event([dl(codes[1]["serial"])], "shipping", 4, disposition="recalled")
    back["destinationList"] = [{"type": "owning_party", "destination": "https://id.gs1.org/417/" + GLN_PHARM}]
    assert capture(client, dist, document(back))["success"] is True
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.action == "ship")) == 2


def test_bodies_that_are_not_documents_are_422s(client, maker):
    h = {**maker.headers, "Content-Type": "application/json"}
    odd = {
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": at(0),
        "epcisBody": {"queryResults": "abc"},
    }
    response = client.post("/epcis/capture", json=odd, headers=h)
    assert response.status_code == 422, response.text
    assert_problem(client.post("/epcis/capture", content=b"[" * 100_000, headers=h), 422, "invalid_json")


def test_each_new_error_declaration_is_kept(client, runtime, maker):
    event = object_event([urn("E1")], "inspecting", 1, eventID="urn:uuid:0a0b0c0d-1111-4222-8333-444455556666")
    first = {**event, "errorDeclaration": {"declarationTime": at(10), "reason": "incorrect_data"}}
    second = {**event, "errorDeclaration": {"declarationTime": at(20), "reason": "did_not_occur"}}
    assert capture(client, maker, document(event, first))["capturedCount"] == 2
    again = capture(client, maker, document(first, second))
    assert (again["capturedCount"], again["duplicateCount"]) == (1, 1)
    with runtime.sessions() as session:
        kinds = session.scalars(select(EpcisEvent.kind).order_by(EpcisEvent.id)).all()
        assert kinds == ["event", "error_declaration", "error_declaration"]


# ------------------------------------------------------------------------------------------ the batch lane
# Runs of plain moves are recorded as one record_events list; a batch that fails is captured again one event at a
# time, so errors, alerts, duplicates and both error behaviours come out exactly as they do event by event.


@pytest.fixture
def lists(monkeypatch) -> list[int]:
    """Batches of 3; the length of every list the capture gives ``record_events``."""
    from app.services.epcis import apply, run

    monkeypatch.setattr(run, "BATCH", 3)
    sizes: list[int] = []
    real = apply.record_events

    def spy(session, principal, events, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(events))
        return real(session, principal, events, **kwargs)

    monkeypatch.setattr(apply, "record_events", spy)
    return sizes


def ship_one(code: dict[str, Any], minutes: int) -> dict[str, Any]:
    return object_event([dl(code["serial"])], "shipping", minutes, destinationList=party(GLN_DIST))


def unit_state(client, code: dict[str, Any]) -> str:
    body: dict[str, Any] = client.get(code["uri"].replace(BASE_URL, ""), headers=JSON).json()
    return str(body["state"])


def test_plain_moves_are_recorded_in_lists_and_stored_like_single_events(
    client, runtime, maker, batch, issue, chain, lists
):
    codes = issue(batch["id"], 7)
    job = capture(client, maker, document(*(ship_one(c, i) for i, c in enumerate(codes))))
    assert (job["success"], job["capturedCount"], job["duplicateCount"], job["errors"]) == (True, 7, 0, [])
    assert lists == [3, 3, 1]
    assert {unit_state(client, c) for c in codes} == {"in_supply_chain"}
    with runtime.sessions() as session:
        rows = session.scalars(select(EpcisEvent).order_by(EpcisEvent.id)).all()
        assert [r.custody for r in rows] == ["applied"] * 7
        assert [r.notes for r in rows] == [[]] * 7
        assert [r.document["epcList"] for r in rows] == [[dl(c["serial"])] for c in codes]  # document order
        assert all(r.document["eventID"] == r.event_id == r.event_hash for r in rows)
        assert all(r.capture_id == job["captureID"] and r.biz_step == "shipping" for r in rows)
        natives = session.scalars(select(Event).order_by(Event.id)).all()
        assert [r.native_event_id for r in rows] == [e.id for e in natives]
        assert {e.action for e in natives} == {"ship"}
        epcs = session.execute(select(EpcisEpc.epcis_event_id, EpcisEpc.epc, EpcisEpc.unit_id)).all()
        assert sorted((e.epcis_event_id, e.epc) for e in epcs) == [(r.id, r.document["epcList"][0]) for r in rows]
        assert all(e.unit_id is not None for e in epcs)


@pytest.mark.parametrize("behaviour", ["rollback", "proceed"])
def test_a_failing_batch_is_captured_again_event_by_event(
    client, runtime, maker, batch, issue, chain, lists, behaviour
):
    codes = issue(batch["id"], 5)
    events = [ship_one(c, i) for i, c in enumerate(codes)]
    events.insert(2, object_event([dl(codes[0]["serial"])], "retail_selling", 9))  # refused: in transit
    job = capture(client, maker, document(*events), behaviour=behaviour)
    assert [(e["index"], e["code"]) for e in job["errors"]] == [(2, "in_transit")]
    assert "event 2" in job["errors"][0]["detail"]
    with runtime.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(EpcisEvent))
        natives = session.scalar(select(func.count()).select_from(Event))
    if behaviour == "rollback":
        assert (job["success"], job["capturedCount"], stored, natives) == (False, 0, 0, 0)
        assert lists == [3, 1, 1, 1]  # the batch, then one at a time up to the error
        assert {unit_state(client, c) for c in codes} == {"issued"}
    else:
        assert (job["success"], job["capturedCount"], stored, natives) == (False, 5, 5, 5)
        assert lists == [3, 1, 1, 1, 3]  # the failing batch again one by one; the next batch as a list
        assert {unit_state(client, c) for c in codes} == {"in_supply_chain"}


def test_an_alert_of_a_refusal_in_a_batch_is_raised_once(client, runtime, maker, batch, issue, chain, lists):
    codes = issue(batch["id"], 4)
    pharm = chain["pharmacy"]
    for code in codes[:3]:
        shipped = client.post(
            "/v1/events", json={"action": "ship", "codes": [code["uri"]], "to": pharm.id}, headers=maker.headers
        )
        assert shipped.status_code in (200, 201), shipped.text
    receipts = [object_event([dl(c["serial"])], "receiving", 10 + i) for i, c in enumerate(codes)]
    receipts[2], receipts[3] = receipts[3], receipts[2]  # the third receipt names the unit never shipped to it
    job = capture(client, pharm, document(*receipts), behaviour="proceed")
    assert (job["capturedCount"], [(e["index"], e["code"]) for e in job["errors"]]) == (3, [(2, "not_in_transit")])
    assert lists == [3, 1, 1, 1, 1]
    with runtime.sessions() as session:
        alerts = session.execute(
            select(Alert.id, Alert.type, Alert.serial, Alert.count).where(Alert.org_id == pharm.id)
        ).all()
    assert [(a.type, a.serial, a.count) for a in alerts] == [("custody_violation", codes[3]["serial"], 1)]
    # the error names the alert that stands, not one written inside a savepoint that was rolled back (the batch's,
    # the event's own): on PostgreSQL those ids are used up, so a stale one names no alert at all
    assert job["errors"][0]["alert_id"] == alerts[0].id


def test_a_rolled_back_document_names_the_alert_written_after_it(client, runtime, maker, batch, issue, chain, lists):
    codes = issue(batch["id"], 2)
    pharm = chain["pharmacy"]
    shipped = client.post(
        "/v1/events", json={"action": "ship", "codes": [codes[0]["uri"]], "to": pharm.id}, headers=maker.headers
    )
    assert shipped.status_code in (200, 201), shipped.text
    receipts = [object_event([dl(c["serial"])], "receiving", 10 + i) for i, c in enumerate(codes)]  # 2nd: not shipped
    job = capture(client, pharm, document(*receipts), behaviour="rollback")
    assert (job["capturedCount"], [(e["index"], e["code"]) for e in job["errors"]]) == (0, [(1, "not_in_transit")])
    assert lists == [2, 1, 1]  # the batch (its alert rolled back), one by one up to the error (its alert too)
    with runtime.sessions() as session:
        alerts = session.execute(
            select(Alert.id, Alert.type, Alert.serial, Alert.count).where(Alert.org_id == pharm.id)
        ).all()
    assert [(a.type, a.serial, a.count) for a in alerts] == [("custody_violation", codes[1]["serial"], 1)]
    assert job["errors"][0]["alert_id"] == alerts[0].id  # written when the job ended, after the rollback


def test_the_same_event_twice_is_a_duplicate_in_a_batch_and_across_captures(
    client, runtime, maker, batch, issue, chain, lists
):
    codes = issue(batch["id"], 3)
    events = [ship_one(codes[0], 1), ship_one(codes[1], 2), ship_one(codes[0], 1), ship_one(codes[2], 3)]
    first = capture(client, maker, document(*events))
    assert (first["success"], first["capturedCount"], first["duplicateCount"]) == (True, 3, 1)
    again = capture(client, maker, document(*events), behaviour="proceed")
    assert (again["success"], again["capturedCount"], again["duplicateCount"]) == (True, 0, 4)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EpcisEvent)) == 3
        assert session.scalar(select(func.count()).select_from(Event)) == 3


@pytest.mark.parametrize("behaviour", ["rollback", "proceed"])
def test_a_batch_repeating_a_native_shipment_notes_it_and_records_the_others(
    client, runtime, maker, batch, issue, chain, lists, behaviour
):
    """The batch lane records its list without a savepoint per event: an event repeating a custody change its
    organisation just recorded natively (a duplicate, which only its own savepoint could leave out) sends the
    batch back event by event, where the repeat is that event's note and the others are recorded."""
    codes = issue(batch["id"], 3)
    repeated = ship_one(codes[1], 2)
    sent = client.post(
        "/v1/events",
        json={
            "action": "ship",
            "codes": [codes[1]["uri"]],
            "to": chain["distributor"].id,
            "occurred_at": repeated["eventTime"],
        },
        headers=maker.headers,
    )
    assert sent.status_code == 201, sent.text
    native_id = sent.json()["results"][0]["event_id"]
    job = capture(client, maker, document(ship_one(codes[0], 1), repeated, ship_one(codes[2], 3)), behaviour)
    assert (job["success"], job["capturedCount"], job["duplicateCount"]) == (True, 3, 0), job
    assert [(w["index"], w["custody"]) for w in job["warnings"]] == [(1, "none")]
    assert job["warnings"][0]["notes"] == [f"the custody change was already recorded as event {native_id}"]
    assert lists[0] == 3 and 3 not in lists[1:]  # the batch of three failed; then one at a time
    with runtime.sessions() as session:
        rows = session.scalars(select(EpcisEvent).order_by(EpcisEvent.id)).all()
        assert [(r.custody, r.native_event_id is None) for r in rows] == [
            ("applied", False),
            ("none", True),
            ("applied", False),
        ]
        assert session.scalar(select(func.count()).select_from(Event)) == 3
        units = session.scalars(select(Unit).where(Unit.serial.in_([c["serial"] for c in codes]))).all()
        assert {(u.state, u.to_id) for u in units} == {("in_transit", chain["distributor"].id)}
