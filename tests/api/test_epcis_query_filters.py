"""The whole EPCIS query over HTTP: orderBy/orderDirection, eventCountLimit and maxEventCount, WD_ locations,
and the parameters that read inside events (quantities, sensors, ILMD, extensions) on captured and native
events, with paging and visibility; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.services.epcis import query as query_service
from tests.helpers import assert_problem

EPCIS = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NS = "http://ns.example.com/epcis/"
GLN_URI = "https://id.gs1.org/414/0614141000012"  # urn:epc:id:sgln:0614141.00001.0
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def event(n: int, hours: float, **extra: Any) -> dict[str, Any]:
    """An ObjectEvent about a unit nobody registered here: kept as external history."""
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "eventTime": at(hours),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"urn:epc:id:sgtin:4012345.011111.{n}"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        **extra,
    }


def capture(client, org, events: list[dict[str, Any]]) -> None:
    doc = {
        "@context": [EPCIS, {"example": NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": events},
    }
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    response = client.post("/epcis/capture", content=json.dumps(doc).encode(), headers=headers)
    assert response.status_code == 202, response.text
    job = client.get(response.headers["location"], headers=org.headers).json()
    assert job["success"] is True, job["errors"]


def ids(client, org, **params: str) -> list[str]:
    response = client.get("/epcis/events", params={"perPage": "1000", **params}, headers=org.headers)
    assert response.status_code == 200, response.text
    return [e["eventID"] for e in response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


def uid(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


def sensor(value: float, uom: str = "CEL", kind: str = "Temperature") -> list[dict[str, Any]]:
    return [{"sensorMetadata": {"time": at(0)}, "sensorReport": [{"type": kind, "value": value, "uom": uom}]}]


@pytest.fixture
def stored(client, maker) -> dict[str, Any]:
    """Six captured events, captured in the order 1..6 (so recordTime follows n), eventTimes out of order."""
    events = [
        event(1, 5, quantityList=[{"epcClass": "urn:epc:class:lgtin:4012345.011111.L1", "quantity": 10, "uom": "KGM"}]),
        event(2, 1, sensorElementList=sensor(4.5), readPoint={"id": "urn:epc:id:sgln:0614141.00001.0"}),
        event(3, 3, sensorElementList=sensor(9.0), readPoint={"id": "urn:epc:id:sgln:0614141.00001.7"}),
        event(
            4,
            0,
            action="ADD",
            bizStep="commissioning",
            ilmd={"cbvmda:lotNumber": "L1", "example:grading": {"example:grade": "A"}},
            **{"example:weight": 12.5},
        ),
        event(5, 4, readPoint={"id": "urn:epc:id:sgln:0614141.00002.0"}, **{"example:weight": 8}),
        event(6, 2, bizLocation={"id": "urn:epc:id:sgln:0614141.00001.3"}, **{"example:note": {"example:by": "QA"}}),
    ]
    for one in events:  # one document each: recordTime grows with n
        capture(client, maker, [one])
    return {"events": events}


def test_order_by_event_time_and_record_time_both_ways(client, maker, stored):
    by_event_time = [uid(n) for n in (4, 2, 6, 3, 5, 1)]
    assert ids(client, maker, orderBy="eventTime", orderDirection="ASC") == by_event_time
    assert ids(client, maker, orderBy="eventTime") == by_event_time[::-1]  # DESC by default
    assert ids(client, maker, orderBy="recordTime", orderDirection="DESC") == [uid(n) for n in (6, 5, 4, 3, 2, 1)]
    assert ids(client, maker) == [uid(n) for n in range(1, 7)]  # no orderBy: recordTime ascending


def test_pages_keep_the_order_and_the_count_limit(client, maker, stored):
    def walk(**params: str) -> list[list[str]]:
        url, seen = "/epcis/events", []
        query: dict[str, str] | None = {**params}
        while url:
            response = client.get(url, params=query, headers=maker.headers)
            assert response.status_code == 200, response.text
            seen.append(
                [e["eventID"] for e in response.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
            )
            link = response.headers.get("link")
            url = link[1 : link.index(">")].replace("http://testserver", "") if link else ""
            query = None
        return seen

    assert walk(orderBy="eventTime", orderDirection="DESC", perPage="4") == [
        [uid(n) for n in (1, 5, 3, 6)],
        [uid(n) for n in (2, 4)],
    ]
    # eventCountLimit: the first 3 of that order, whatever the page size
    assert walk(orderBy="eventTime", orderDirection="ASC", perPage="2", eventCountLimit="3") == [
        [uid(4), uid(2)],
        [uid(6)],
    ]
    assert walk(orderBy="eventTime", eventCountLimit="2", perPage="2") == [[uid(1), uid(5)]]


def test_max_event_count_refuses_a_result_too_large(client, maker, stored):
    assert len(ids(client, maker, maxEventCount="6")) == 6
    response = client.get("/epcis/events", params={"maxEventCount": "5"}, headers=maker.headers)
    problem = assert_problem(response, 413, "query_too_large")
    assert problem["type"] == "epcisException:QueryTooLargeException"
    assert "maxEventCount=5" in problem["detail"]
    # counted after the filters: two events carry sensor data
    assert ids(client, maker, maxEventCount="2", EXISTS_sensorElementList="") == [uid(2), uid(3)]


def test_with_descendants_reads_a_glns_sub_locations(client, maker, stored):
    assert ids(client, maker, EQ_readPoint=GLN_URI) == [uid(2)]
    assert ids(client, maker, WD_readPoint=GLN_URI) == [uid(2), uid(3)]
    assert ids(client, maker, WD_readPoint="urn:epc:id:sgln:0614141.00001.7") == [uid(3)]  # a leaf: itself only
    assert ids(client, maker, WD_bizLocation="urn:epc:id:sgln:0614141.00001.0") == [uid(6)]
    assert ids(client, maker, WD_bizLocation="urn:epc:id:sgln:0614141.00002.0") == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"EQ_quantity": "10"}, [1]),
        ({"GT_quantity_KGM": "10"}, []),
        ({"MATCH_epcClass": "urn:epc:class:lgtin:4012345.011111.L1"}, [1]),
        ({"EQ_type": "Temperature", "GE_value_CEL": "5"}, [3]),
        ({"LT_value_CEL": "5"}, [2]),
        ({"GE_value_FAH": "0"}, []),
        ({"EQ_ILMD_cbvmda:lotNumber": "L1"}, [4]),
        ({"EQ_INNER_ILMD_example:grade": "A"}, [4]),
        ({"GT_example:weight": "8"}, [4]),
        ({"GE_example:weight": "8", "EQ_action": "OBSERVE"}, [5]),
        ({"EXISTS_example:weight": ""}, [4, 5]),
        ({"EQ_INNER_example:by": "QA"}, [6]),
        ({"EQ_example:by": "QA"}, []),
    ],
)
def test_filters_that_read_inside_events(client, maker, stored, params, expected):
    assert ids(client, maker, **params) == [uid(n) for n in expected]


def test_another_organisation_sees_none_of_it(client, make_org, stored):
    stranger = make_org("retailer", "drug_retail")
    assert ids(client, stranger, EXISTS_sensorElementList="") == []
    assert ids(client, stranger, orderBy="eventTime") == []


def test_a_filtered_scan_crosses_chunks_and_pages(client, maker, stored, monkeypatch):
    """Filters read documents SCAN_CHUNK rows at a time: with chunks of 2, matches spread over several chunks
    still come back complete, in order, and page by page."""
    monkeypatch.setattr(query_service, "SCAN_CHUNK", 2)
    assert ids(client, maker, **{"EXISTS_example:weight": ""}) == [uid(4), uid(5)]
    first = client.get("/epcis/events", params={"EXISTS_example:weight": "", "perPage": "1"}, headers=maker.headers)
    assert [e["eventID"] for e in first.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]] == [uid(4)]
    link = first.headers["link"]
    second = client.get(link[1 : link.index(">")].replace("http://testserver", ""), headers=maker.headers)
    assert [e["eventID"] for e in second.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]] == [uid(5)]
    assert "link" not in second.headers


def test_native_events_answer_passport_extension_filters(client, maker, batch, issue, make_org):
    distributor = make_org("distributor", "drug_wholesale", gln="0614141000029")
    codes = [c["uri"] for c in issue(batch["id"], 2)]
    shipped = client.post(
        "/v1/events",
        json={"action": "ship", "codes": codes[:1], "to": distributor.id, "region": "CN-31"},
        headers=maker.headers,
    )
    assert shipped.status_code == 201, shipped.text
    capture(client, maker, [event(7, 1, **{"example:weight": 3})])
    everything = ids(client, maker)
    assert len(everything) == 2
    native = next(i for i in everything if "/v1/events/" in i)
    assert ids(client, maker, **{"EQ_passport:region": "CN-31"}) == [native]
    assert ids(client, maker, **{"EQ_passport:region": "CN-32"}) == []
    assert ids(client, maker, EQ_destination_owning_party="urn:epc:id:pgln:0614141.00002") == [native]
    # a filter natives can never satisfy leaves them out without reading them
    assert ids(client, maker, **{"EXISTS_example:weight": ""}) == [uid(7)]
    # orderBy eventTime merges both sources: the capture's eventTime (T0+1h) is before the native one (now)
    assert ids(client, maker, orderBy="eventTime", orderDirection="ASC") == [uid(7), native]
    assert ids(client, maker, orderBy="eventTime", orderDirection="DESC") == [native, uid(7)]
