"""EPCIS 2.0 query interface: native custody events exported as EPCIS, captured events read back as sent,
the standard filters on both, keyset paging with a Link header, and who sees what."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft7Validator, FormatChecker

from tests.epcis_examples import example_files
from tests.helpers import BASE_URL, assert_problem

SCHEMA = Path(__file__).parents[2] / "app" / "services" / "epcis" / "schema" / "EPCIS-JSON-Schema.json"
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
GTIN = "09506000134352"  # company prefix 9506000, item reference 13435
MAKER_GLN, DIST_GLN, PHARMACY_GLN = "0614141000012", "0614141000029", "0614141000036"
SSCC_CASE = "106141411234567897"  # urn:epc:id:sscc:0614141.1123456789
SSCC_PALLET = "376104250021234569"


@cache
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    return Draft7Validator(schema, format_checker=FormatChecker())


def assert_valid(document: dict[str, Any]) -> None:
    errors = sorted(validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def events_of(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    document = response.json()
    assert_valid(document)
    assert document["type"] == "EPCISQueryDocument" and document["schemaVersion"] == "2.0"
    assert document["@context"][0] == EPCIS_CONTEXT
    results = document["epcisBody"]["queryResults"]
    assert results["queryName"] == "SimpleEventQuery"
    return results["resultsBody"]["eventList"]


def query(client, org, **params: str) -> list[dict[str, Any]]:
    return events_of(client.get("/epcis/events", params={"perPage": "1000", **params}, headers=org.headers))


def dl(serial: str) -> str:
    return f"https://id.gs1.org/01/{GTIN}/21/{serial}"


def record(client, org, body: dict[str, Any]) -> int:
    response = client.post("/v1/events", json=body, headers=org.headers)
    assert response.status_code == 201, response.text
    event_id: int = response.json()["results"][0]["event_id"]
    return event_id


def native_uri(event_id: int) -> str:
    return f"{BASE_URL}/v1/events/{event_id}"


@pytest.fixture
def world(client, make_org, issue) -> dict[str, Any]:
    """A maker with a GLN, a distributor and a pharmacy with GLNs, a regulator and a stranger; six codes."""
    since = date(2026, 1, 1)  # licensed before the events of November
    maker = make_org("manufacturer", "drug_manufacturing", gln=MAKER_GLN, licensed_from=since)
    parties = {
        "maker": maker,
        "dist": make_org("distributor", "drug_wholesale", gln=DIST_GLN, licensed_from=since),
        "pharmacy": make_org("retailer", "drug_retail", gln=PHARMACY_GLN, licensed_from=since),
        "regulator": make_org("regulator"),
        "stranger": make_org("retailer", "drug_retail"),
    }
    product = {"gtin": GTIN, "name": "Paracetamol 500 mg", "category": "drug_otc"}
    assert client.post("/v1/products", json=product, headers=maker.headers).status_code == 201
    batch = client.post(
        "/v1/batches",
        json={"gtin": GTIN, "lot": "LOT42", "manufactured_on": "2026-01-01", "expires_on": "2029-01-01"},
        headers=maker.headers,
    ).json()
    codes = issue(batch["id"], 6, org=maker)
    return {**parties, "codes": [c["uri"] for c in codes], "serials": [c["serial"] for c in codes]}


@pytest.fixture
def journey(client, world) -> dict[str, Any]:
    """Unit 0 shipped to the distributor, received, shipped to the pharmacy, received and sold; units 1-3 packed
    in a case that goes to the distributor and is unpacked there."""
    maker, dist, pharmacy = world["maker"], world["dist"], world["pharmacy"]
    codes = world["codes"]
    t0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)

    def at(hours: int) -> str:
        return (t0 + timedelta(hours=hours)).isoformat()

    ids = {
        "ship1": record(
            client,
            maker,
            {"action": "ship", "codes": [codes[0]], "to": dist.id, "occurred_at": at(0), "region": "CN-31"},
        ),
        "receive1": record(client, dist, {"action": "receive", "codes": [codes[0]], "occurred_at": at(5)}),
        "ship2": record(client, dist, {"action": "ship", "codes": [codes[0]], "to": pharmacy.id, "occurred_at": at(9)}),
        "receive2": record(client, pharmacy, {"action": "receive", "codes": [codes[0]], "occurred_at": at(20)}),
        "sell": record(
            client, pharmacy, {"action": "sell", "codes": [codes[0]], "channel": "offline", "occurred_at": at(30)}
        ),
        "pack": record(
            client,
            maker,
            {"action": "pack", "codes": codes[1:4], "container": f"(00){SSCC_CASE}", "occurred_at": at(1)},
        ),
        "ship_case": record(
            client, maker, {"action": "ship", "codes": [f"(00){SSCC_CASE}"], "to": dist.id, "occurred_at": at(2)}
        ),
        "receive_case": record(
            client, dist, {"action": "receive", "codes": [f"(00){SSCC_CASE}"], "occurred_at": at(6)}
        ),
        "unpack": record(client, dist, {"action": "unpack", "codes": [f"(00){SSCC_CASE}"], "occurred_at": at(7)}),
    }
    return {**world, "ids": ids, "t0": t0}


# ------------------------------------------------------------------------------------------ native export


def test_native_events_are_exported_as_epcis_2(client, journey):
    ids, serials = journey["ids"], journey["serials"]
    events = query(client, journey["regulator"])
    # Merged in record order: the order they were recorded in, whatever their event times.
    assert [e["eventID"] for e in events] == [native_uri(i) for i in ids.values()]
    by_id = {e["eventID"]: e for e in events}

    ship = by_id[native_uri(ids["ship1"])]
    assert ship == {
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "recordTime": ship["recordTime"],
        "eventID": native_uri(ids["ship1"]),
        "epcList": [dl(serials[0])],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "bizLocation": {"id": f"https://id.gs1.org/414/{MAKER_GLN}"},
        "sourceList": [{"type": "owning_party", "source": f"https://id.gs1.org/417/{MAKER_GLN}"}],
        "destinationList": [{"type": "owning_party", "destination": f"https://id.gs1.org/417/{DIST_GLN}"}],
        "passport:action": "ship",
        "passport:org": journey["maker"].id,
        "passport:to": journey["dist"].id,
        "passport:region": "CN-31",
        "passport:logIndex": 0,
    }
    recorded = datetime.fromisoformat(ship["recordTime"])
    assert recorded.tzinfo is not None and abs(recorded - datetime.now(UTC)) < timedelta(minutes=5)

    sell = by_id[native_uri(ids["sell"])]
    assert (sell["type"], sell["action"], sell["bizStep"], sell["disposition"]) == (
        "ObjectEvent",
        "OBSERVE",
        "retail_selling",
        "retail_sold",
    )
    assert sell["passport:channel"] == "offline" and sell["bizLocation"]["id"].endswith(PHARMACY_GLN)

    pack = by_id[native_uri(ids["pack"])]
    assert pack["type"] == "AggregationEvent" and pack["action"] == "ADD" and pack["bizStep"] == "packing"
    assert pack["parentID"] == f"https://id.gs1.org/00/{SSCC_CASE}"
    assert pack["childEPCs"] == [dl(s) for s in serials[1:4]]
    unpack = by_id[native_uri(ids["unpack"])]
    assert (unpack["type"], unpack["action"], unpack["bizStep"]) == ("AggregationEvent", "DELETE", "unpacking")
    assert unpack["parentID"] == pack["parentID"] and sorted(unpack["childEPCs"]) == sorted(pack["childEPCs"])
    assert by_id[native_uri(ids["ship_case"])]["epcList"] == [f"https://id.gs1.org/00/{SSCC_CASE}"]


def test_the_passport_prefix_is_declared_in_the_context(client, journey):
    document = client.get("/epcis/events", headers=journey["regulator"].headers).json()
    declared = {k: v for c in document["@context"] if isinstance(c, dict) for k, v in c.items()}
    assert declared["passport"] == f"{BASE_URL}/epcis/vocab#"
    assert document["creationDate"].endswith("Z")


def test_one_event_by_its_id_percent_encoded(client, journey):
    regulator, ids = journey["regulator"], journey["ids"]
    uri = native_uri(ids["pack"])
    response = client.get(f"/epcis/events/{quote(uri, safe='')}", headers=regulator.headers)
    assert response.headers["GS1-EPCIS-Version"] == "2.0.0"
    [event] = events_of(response)
    assert event == query(client, regulator, EQ_eventID=uri)[0]
    assert event["eventID"] == uri
    unencoded = client.get(f"/epcis/events/{uri}", headers=regulator.headers)
    assert events_of(unencoded) == [event]
    assert_problem(
        client.get(f"/epcis/events/{quote(native_uri(10**9), safe='')}", headers=regulator.headers),
        404,
        "event_not_found",
    )
    assert_problem(
        client.get(
            f"/epcis/events/{quote('urn:uuid:00000000-0000-4000-8000-000000000000', safe='')}",
            headers=regulator.headers,
        ),
        404,
        "event_not_found",
    )
    assert_problem(client.get(f"/epcis/events/{quote(uri, safe='')}"), 401, "missing_api_key")
    assert_problem(
        client.get(f"/epcis/events/{quote(uri, safe='')}", headers=journey["stranger"].headers), 403, "foreign_event"
    )


# ------------------------------------------------------------------------------------------ filters


def test_filters_apply_to_native_events(client, journey):
    regulator, ids, serials = journey["regulator"], journey["ids"], journey["serials"]

    def found(**params: str) -> list[int]:
        return [int(e["eventID"].rsplit("/", 1)[1]) for e in query(client, regulator, **params)]

    assert found(EQ_bizStep="shipping") == [ids["ship1"], ids["ship2"], ids["ship_case"]]
    assert found(EQ_bizStep="urn:epcglobal:cbv:bizstep:shipping|receiving") == [
        ids[k] for k in ("ship1", "receive1", "ship2", "receive2", "ship_case", "receive_case")
    ]
    assert found(EQ_bizStep="https://ref.gs1.org/cbv/BizStep-retail_selling") == [ids["sell"]]
    assert found(eventType="AggregationEvent") == [ids["pack"], ids["unpack"]]
    assert found(eventType="AggregationEvent", EQ_action="DELETE") == [ids["unpack"]]
    assert found(EQ_action="ADD|DELETE") == [ids["pack"], ids["unpack"]]
    assert found(EQ_disposition="retail_sold") == [ids["sell"]]
    assert found(eventType="TransformationEvent") == []
    # Times: event time is when it happened, record time when it was recorded.
    t0 = journey["t0"]
    assert found(GE_eventTime=(t0 + timedelta(hours=9)).isoformat(), LT_eventTime="2026-11-21T12:00:01+08:00") == [
        ids["ship2"],
        ids["receive2"],
    ]
    assert found(GE_eventTime="2026-11-21T14:00:00Z") == [ids["sell"]]
    assert found(LT_recordTime="2000-01-01T00:00:00Z") == []
    assert len(found(GE_recordTime="2000-01-01T00:00:00Z")) == len(ids)
    # Identifiers match in any form: Digital Link on any host, EPC URN.
    unit0 = f"urn:epc:id:sgtin:9506000.013435.{serials[0]}"
    assert found(MATCH_epc=unit0) == [ids[k] for k in ("ship1", "receive1", "ship2", "receive2", "sell")]
    assert found(MATCH_epc=f"https://shop.example/01/{GTIN}/21/{serials[2]}") == [ids["pack"], ids["unpack"]]
    case_urn = "urn:epc:id:sscc:0614141.1123456789"
    assert found(MATCH_epc=case_urn) == [ids["ship_case"], ids["receive_case"]]
    assert found(MATCH_parentID=case_urn) == [ids["pack"], ids["unpack"]]
    assert found(MATCH_anyEPC=f"{case_urn}|{unit0}") == sorted(
        ids[k]
        for k in ("ship1", "receive1", "ship2", "receive2", "sell", "pack", "ship_case", "receive_case", "unpack")
    )
    assert found(MATCH_epc="urn:epc:idpat:sgtin:9506000.013435.*", EQ_bizStep="packing") == [ids["pack"]]
    assert found(MATCH_inputEPC=unit0) == [] and found(MATCH_anyEPCClass=f"https://id.gs1.org/01/{GTIN}/10/LOT42") == []
    # Locations: the acting organisation's GLN, as a Digital Link or an SGLN.
    assert found(EQ_bizLocation="urn:epc:id:sgln:0614141.00002.0") == [
        ids[k] for k in ("receive1", "ship2", "receive_case", "unpack")
    ]
    assert found(EQ_bizLocation=f"https://example.com/414/{PHARMACY_GLN}", EQ_bizStep="receiving") == [ids["receive2"]]
    assert found(EQ_readPoint=f"https://id.gs1.org/414/{MAKER_GLN}") == []
    assert found(EQ_eventID=f"{native_uri(ids['sell'])}|{native_uri(ids['pack'])}") == [ids["sell"], ids["pack"]]
    assert found(EXISTS_errorDeclaration="true") == []
    assert len(found(EXISTS_errorDeclaration="false")) == len(ids)


@pytest.mark.parametrize(
    ("params", "code", "names"),
    [
        ({"colour": "red"}, "invalid_query_parameter", "colour"),
        ({"orderBy": "example:weight"}, "unsupported_query_parameter", "orderBy"),
        ({"orderBy": "eventTime", "orderDirection": "UP"}, "invalid_query_parameter", "orderDirection"),
        ({"eventCountLimit": "3"}, "invalid_query_parameter", "needs orderBy"),
        ({"HASATTR_example:f": "x"}, "unsupported_query_parameter", "master-data"),
        ({"GT_quantity": "many"}, "invalid_query_parameter", "GT_quantity"),
        ({"GE_eventTime": "yesterday"}, "invalid_query_parameter", "GE_eventTime"),
        ({"LT_recordTime": "2026-11-20T08:00:00"}, "invalid_query_parameter", "time zone"),
        ({"EQ_action": "ADD|UPDATE"}, "invalid_query_parameter", "UPDATE"),
        ({"eventType": "ObjectEvnt"}, "invalid_query_parameter", "ObjectEvnt"),
        ({"EQ_bizStep": "shiping"}, "invalid_query_parameter", "shiping"),
        ({"EQ_disposition": "in_transit|"}, "invalid_query_parameter", "empty value"),
        ({"MATCH_epc": f"https://id.gs1.org/01/{GTIN[:-1]}9/21/A"}, "invalid_query_parameter", "check digit"),
        ({"MATCH_epc": "urn:epc:idpat:sgtin:9506000.*.*"}, "invalid_query_parameter", "not supported"),
        ({"EQ_bizLocation": "urn:epc:id:sgln:0614141.00002"}, None, None),
        ({"perPage": "0"}, "invalid_query_parameter", "perPage"),
        ({"perPage": "ten"}, "invalid_query_parameter", "perPage"),
        ({"nextPageToken": "not-a-token"}, "invalid_query_parameter", "nextPageToken"),
        ({"EXISTS_errorDeclaration": "maybe"}, "invalid_query_parameter", "true or false"),
        ({"perPage": "\u00b2"}, "invalid_query_parameter", "perPage"),
        ({"GE_eventTime": "0001-01-01T00:00:00+01:00"}, "invalid_query_parameter", "GE_eventTime"),
        (
            {
                "nextPageToken": "eyJ0IjogIjIwMjYtMTEtMjNUMDA6MDA6MDArMDA6MDAiLCAicyI6IDAsICJpIjogMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMCwgInEiOiAieCJ9"
            },
            "invalid_query_parameter",
            "nextPageToken",
        ),
    ],
)
def test_bad_query_parameters_are_refused_precisely(client, make_org, params, code, names):
    regulator = make_org("regulator")
    response = client.get("/epcis/events", params=params, headers=regulator.headers)
    if code is None:  # a wrong-length SGLN is kept as an opaque URI: a valid query that matches nothing
        assert events_of(response) == []
        return
    problem = assert_problem(response, 400, code)
    assert problem["type"] == "epcisException:QueryParameterException"
    assert names in problem["detail"]


def test_a_repeated_parameter_is_refused(client, make_org):
    regulator = make_org("regulator")
    response = client.get("/epcis/events?EQ_action=ADD&EQ_action=DELETE", headers=regulator.headers)
    assert "once" in assert_problem(response, 400, "invalid_query_parameter")["detail"]
    assert_problem(client.get("/epcis/events"), 401, "missing_api_key")


# ------------------------------------------------------------------------------------------ paging


def pages(client, org, url: str) -> list[list[dict[str, Any]]]:
    collected = []
    while url:
        response = client.get(url, headers=org.headers)
        collected.append(events_of(response))
        link = response.headers.get("Link")
        if link is None:
            break
        assert link.endswith('>; rel="next"') and link.startswith("<http")
        url = link[1 : link.index(">")]
        assert "nextPageToken=" in url
    return collected


def test_paging_walks_every_event_once_with_link_headers(client, journey):
    regulator = journey["regulator"]
    everything = query(client, regulator)
    assert len(everything) == 9
    walked = pages(client, regulator, "/epcis/events?perPage=2")
    assert [len(p) for p in walked] == [2, 2, 2, 2, 1]
    assert [e for p in walked for e in p] == everything
    # A filter travels with the token; exactly perPage events on the last page means no next link.
    shipping = pages(client, regulator, "/epcis/events?perPage=1&EQ_bizStep=shipping%7Creceiving")
    assert [e["eventID"] for p in shipping for e in p] == [
        e["eventID"] for e in everything if e["bizStep"] in ("shipping", "receiving")
    ]
    assert [len(p) for p in pages(client, regulator, "/epcis/events?perPage=9")] == [9]
    assert [len(p) for p in pages(client, regulator, "/epcis/events")] == [9]  # default 30


def test_a_token_only_serves_the_query_that_made_it(client, journey):
    regulator = journey["regulator"]
    first = client.get("/epcis/events", params={"perPage": "2", "EQ_bizStep": "shipping"}, headers=regulator.headers)
    link = first.headers["Link"]
    token = link.split("nextPageToken=")[1].split(">")[0]
    other = client.get(
        "/epcis/events", params={"EQ_bizStep": "receiving", "nextPageToken": token}, headers=regulator.headers
    )
    assert "other filters" in assert_problem(other, 400, "invalid_query_parameter")["detail"]
    # perPage may change between pages.
    same = client.get(
        "/epcis/events",
        params={"EQ_bizStep": "shipping", "perPage": "5", "nextPageToken": token},
        headers=regulator.headers,
    )
    assert len(events_of(same)) == 1


# ------------------------------------------------------------------------------------------ who sees what


def test_each_organisation_sees_its_own_hops_and_its_makers_units(client, journey):
    ids = journey["ids"]

    def seen(org) -> set[int]:
        return {int(e["eventID"].rsplit("/", 1)[1]) for e in query(client, org)}

    assert seen(journey["maker"]) == set(ids.values())  # its units, also inside the case at the distributor
    assert seen(journey["dist"]) == {
        ids[k] for k in ("ship1", "receive1", "ship2", "ship_case", "receive_case", "unpack")
    }
    assert seen(journey["pharmacy"]) == {ids[k] for k in ("ship2", "receive2", "sell")}
    assert seen(journey["stranger"]) == set()
    assert seen(journey["regulator"]) == set(ids.values())
    uri = quote(native_uri(ids["sell"]), safe="")
    assert_problem(client.get(f"/epcis/events/{uri}", headers=journey["dist"].headers), 403, "foreign_event")
    assert len(events_of(client.get(f"/epcis/events/{uri}", headers=journey["maker"].headers))) == 1


def test_a_maker_sees_its_units_moving_on_a_pallet_of_cases(client, journey, make_org, issue):
    maker, dist = journey["maker"], journey["dist"]
    codes = journey["codes"]
    case = record(client, maker, {"action": "pack", "codes": codes[4:6], "container": "(00)106141412345678908"})
    other_maker = make_org("manufacturer", "drug_manufacturing")
    pallet = record(
        client, maker, {"action": "pack", "codes": ["(00)106141412345678908"], "container": f"(00){SSCC_PALLET}"}
    )
    ship = record(client, maker, {"action": "ship", "codes": [f"(00){SSCC_PALLET}"], "to": dist.id})
    receive = record(client, dist, {"action": "receive", "codes": [f"(00){SSCC_PALLET}"]})
    seen_by_maker = {e["eventID"] for e in query(client, maker)}
    assert {native_uri(i) for i in (pallet, ship, receive)} <= seen_by_maker
    assert query(client, other_maker) == []
    # A unit is named by the events that name it; a pallet hop names the pallet (EPCIS: the SSCC stands for
    # its contents).
    by_unit = query(client, journey["regulator"], MATCH_epc=codes[5].split("?")[0])
    assert [e["eventID"] for e in by_unit] == [native_uri(case)]
    by_case = query(client, journey["regulator"], MATCH_anyEPC="https://id.gs1.org/00/106141412345678908")
    assert [e["eventID"] for e in by_case] == [native_uri(case), native_uri(pallet)]


# ------------------------------------------------------------------------------------------ captured events


def epcis_document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def capture(client, org, document: dict[str, Any]) -> dict[str, Any]:
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    response = client.post("/epcis/capture", content=json.dumps(document).encode(), headers=headers)
    assert response.status_code == 202, response.text
    job = client.get(response.headers["location"], headers=org.headers).json()
    assert job["running"] is False and job["success"] is True, job
    return job


def sent_events(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document["epcisBody"]
    events: list[dict[str, Any]] = (
        body["queryResults"]["resultsBody"]["eventList"] if "queryResults" in body else body["eventList"]
    )
    return events


def as_sent(returned: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """What the query must give back for ``sent``: every field as sent, the server's recordTime, and the eventID
    the server set when the sender gave none."""
    return {
        **{k: v for k, v in sent.items() if k != "recordTime"},
        "eventID": returned["eventID"],
        "recordTime": returned["recordTime"],
    }


def filters_for(event: dict[str, Any]) -> dict[str, str]:
    """Standard query parameters that the event satisfies, built from its own fields."""
    params = {"eventType": event["type"], "GE_eventTime": event["eventTime"], "EQ_eventID": event["eventID"]}
    moment = datetime.fromisoformat(event["eventTime"])
    params["LT_eventTime"] = (moment + timedelta(milliseconds=1)).isoformat()
    params["GE_recordTime"] = event["recordTime"]
    for name, key in (("EQ_action", "action"), ("EQ_bizStep", "bizStep"), ("EQ_disposition", "disposition")):
        if isinstance(event.get(key), str):
            params[name] = event[key]
    for name, key in (("EQ_readPoint", "readPoint"), ("EQ_bizLocation", "bizLocation")):
        if isinstance(event.get(key), dict):
            params[name] = event[key]["id"]
    for name, key in (
        ("MATCH_epc", "epcList"),
        ("MATCH_epc", "childEPCs"),
        ("MATCH_inputEPC", "inputEPCList"),
        ("MATCH_outputEPC", "outputEPCList"),
    ):
        if event.get(key):
            params[name] = event[key][-1]
    if isinstance(event.get("parentID"), str):
        params["MATCH_parentID"] = event["parentID"]
        params["MATCH_anyEPC"] = event["parentID"]
    classes = [
        q["epcClass"]
        for k in ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
        for q in event.get(k) or []
    ]
    if classes:
        params["MATCH_anyEPCClass"] = classes[0]
    if "errorDeclaration" in event:
        params["EXISTS_errorDeclaration"] = "true"
    return params


EXAMPLE_FILES = example_files()


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_every_example_reads_back_as_sent(client, make_org, path):
    """Each of GS1's example events, captured, comes back from the list, by its eventID and through filters
    built from its own fields, equal field by field to what was sent (plus recordTime)."""
    org = make_org("distributor")
    document = json.loads(path.read_text())
    job = capture(client, org, document)
    sent = sent_events(document)
    listed = query(client, org)
    assert len(listed) == job["capturedCount"]
    for returned in listed:
        twins = [s for s in sent if as_sent(returned, s) == returned]
        assert twins, f"{returned.get('eventID')} does not equal any event sent"
        assert datetime.fromisoformat(returned["recordTime"]).tzinfo is not None
    unmatched = [s for s in sent if not any(as_sent(r, s) == r for r in listed)]
    assert len(unmatched) == job["duplicateCount"], unmatched
    # The sender's inline @context entries are declared in the answer.
    response = client.get("/epcis/events", headers=org.headers).json()
    declared = {k: v for c in response["@context"] if isinstance(c, dict) for k, v in c.items()}
    for entry in document["@context"] if isinstance(document["@context"], list) else []:
        if isinstance(entry, dict):
            assert all(declared.get(k) == v for k, v in entry.items()), entry
    for returned in listed:
        by_id = events_of(client.get(f"/epcis/events/{quote(returned['eventID'], safe='')}", headers=org.headers))
        assert returned in by_id and all(e["eventID"] == returned["eventID"] for e in by_id)
        filtered = query(client, org, **filters_for(returned))
        assert returned in filtered, filters_for(returned)


def test_identifiers_match_across_urn_and_digital_link(client, make_org):
    org = make_org("distributor")
    urn_event = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T08:00:00.000+08:00",
        "eventTimeZoneOffset": "+08:00",
        "epcList": ["urn:epc:id:sgtin:9506000.013435.URN1"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00001.0"},
    }
    dl_event = {
        "type": "AggregationEvent",
        "eventTime": "2026-11-20T09:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "parentID": f"https://example.com/00/{SSCC_CASE}",
        "childEPCs": [f"https://example.com/01/{GTIN}/10/L1/21/DL1"],
        "action": "OBSERVE",
        "bizLocation": {"id": f"https://example.com/414/{MAKER_GLN}"},
    }
    capture(
        client,
        org,
        epcis_document(*[urn_event, dl_event]),
    )
    [by_urn_of_dl] = query(client, org, MATCH_epc="urn:epc:id:sgtin:9506000.013435.DL1")
    assert by_urn_of_dl["childEPCs"] == dl_event["childEPCs"]  # as sent, not canonicalised
    [by_dl_of_urn] = query(client, org, MATCH_anyEPC=dl("URN1"))
    assert by_dl_of_urn["epcList"] == urn_event["epcList"]
    assert query(client, org, MATCH_parentID="urn:epc:id:sscc:0614141.1123456789") == [by_urn_of_dl]
    assert query(client, org, EQ_readPoint=f"https://id.gs1.org/414/{MAKER_GLN}") == [by_dl_of_urn]
    assert query(client, org, EQ_bizLocation="urn:epc:id:sgln:0614141.00001.0") == [by_urn_of_dl]
    assert query(client, org, GE_eventTime="2026-11-19T23:30:00Z", LT_eventTime="2026-11-20T00:00:00.001Z") == [
        by_dl_of_urn
    ]


def test_captured_and_native_events_merge_in_record_order_and_page_together(client, journey):
    maker, dist, regulator = journey["maker"], journey["dist"], journey["regulator"]
    serial = journey["serials"][4]
    shipped = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-22T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"urn:epc:id:sgtin:9506000.013435.{serial}"],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "destinationList": [
            {"type": "owning_party", "destination": f"urn:epc:id:pgln:{DIST_GLN[:7]}.{DIST_GLN[7:12]}"}
        ],
        "example:note": "sent as EPCIS",
    }
    document = {
        "@context": [EPCIS_CONTEXT, {"example": "http://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": [shipped]},
    }
    capture(client, maker, document)
    after = record(client, dist, {"action": "receive", "codes": [journey["codes"][4]]})
    everything = query(client, regulator)
    assert len(everything) == len(journey["ids"]) + 2  # the capture's native ship is listed once, as captured
    captured = everything[-2]
    assert captured == as_sent(captured, shipped)
    assert everything[-1]["eventID"] == native_uri(after)
    times = [datetime.fromisoformat(e["recordTime"]) for e in everything]
    assert times == sorted(times)
    walked = pages(client, regulator, "/epcis/events?perPage=4")
    assert [e for p in walked for e in p] == everything
    assert query(client, regulator, EQ_bizStep="shipping")[-1] == captured
    assert query(client, regulator, MATCH_epc=dl(serial)) == everything[-2:]
    # The capture recorded a native ship; asking for that native event gives the captured one.
    assert query(client, dist, EQ_eventID=captured["eventID"]) == [captured]  # the addressee sees it
    assert query(client, journey["stranger"], MATCH_epc=dl(serial)) == []


def test_error_declarations_are_listed_beside_the_event_and_found_with_it(client, make_org):
    org = make_org("distributor")
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "eventID": "urn:uuid:6c4c1a2e-2f7e-4d4a-9a53-0c3c7c0b1f10",
        "epcList": [dl("ERR1")],
        "action": "OBSERVE",
        "bizStep": "inspecting",
    }
    declared = {**event, "errorDeclaration": {"declarationTime": "2026-11-21T08:00:00Z", "reason": "incorrect_data"}}
    for item in (event, declared):
        capture(
            client,
            org,
            epcis_document(*[item]),
        )
    both = events_of(client.get(f"/epcis/events/{quote(event['eventID'], safe='')}", headers=org.headers))
    assert both == [as_sent(both[0], event), as_sent(both[1], declared)]
    assert query(client, org, EXISTS_errorDeclaration="true") == [both[1]]


def test_clashing_inline_contexts_stay_with_their_events(client, make_org):
    org = make_org("distributor")
    for namespace, serial in (("http://one.example/", "C1"), ("http://two.example/", "C2")):
        capture(
            client,
            org,
            {
                "@context": [EPCIS_CONTEXT, {"ex": namespace}],
                "type": "EPCISDocument",
                "schemaVersion": "2.0",
                "creationDate": "2026-11-23T08:00:00Z",
                "epcisBody": {
                    "eventList": [
                        {
                            "type": "ObjectEvent",
                            "eventTime": "2026-11-20T08:00:00Z",
                            "eventTimeZoneOffset": "+00:00",
                            "epcList": [dl(serial)],
                            "action": "OBSERVE",
                            "ex:field": serial,
                        }
                    ]
                },
            },
        )
    response = client.get("/epcis/events", headers=org.headers)
    first, second = events_of(response)
    assert {"ex": "http://one.example/"} in [
        {k: v for k, v in c.items() if k == "ex"} for c in response.json()["@context"] if isinstance(c, dict)
    ]
    assert "@context" not in first and second["@context"] == [{"ex": "http://two.example/"}]


def test_a_maker_sees_captured_events_about_its_products(client, journey, make_org):
    stranger = journey["stranger"]
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [dl(journey["serials"][5])],
        "action": "OBSERVE",
        "bizStep": "inspecting",
    }
    capture(
        client,
        stranger,
        epcis_document(*[event]),
    )
    [seen] = query(client, stranger)
    assert query(client, journey["maker"], MATCH_epc=dl(journey["serials"][5])) == [seen]
    assert query(client, journey["dist"], EQ_bizStep="inspecting") == []
    assert query(client, journey["regulator"], EQ_bizStep="inspecting") == [seen]
    uri = quote(seen["eventID"], safe="")
    assert_problem(client.get(f"/epcis/events/{uri}", headers=journey["pharmacy"].headers), 403, "foreign_event")


def test_registering_a_gtin_does_not_reveal_what_others_captured_about_it(client, make_org):
    """External history names GTINs nobody registered; whoever registers one later must not read it (only units
    issued or commissioned here make a maker see others' events)."""
    from app.domain.identifiers import check_digit

    gtin = "0401234500001"
    gtin += check_digit(gtin)
    shipper = make_org("distributor", "drug_wholesale")
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"https://id.gs1.org/01/{gtin}/21/SECRET1"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
    }
    document = epcis_document(*[event])
    capture(client, shipper, document)
    squatter = make_org("manufacturer", "drug_manufacturing")
    response = client.post(
        "/v1/products", json={"gtin": gtin, "name": "Not theirs", "category": "drug_otc"}, headers=squatter.headers
    )
    assert response.status_code == 201, response.text
    assert query(client, squatter) == []
    assert len(query(client, shipper)) == 1
