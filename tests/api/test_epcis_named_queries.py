"""EPCIS named queries (POST /epcis/queries, GET /epcis/queries/{name}/events): kept per organisation, checked
like the query string, run with the caller's visibility and paged; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.helpers import assert_problem

EPCIS = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def event(n: int, biz_step: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        "eventTime": f"2026-11-01T0{n}:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": [f"urn:epc:id:sgtin:4012345.011111.{n}"],
        "action": "OBSERVE",
        "bizStep": biz_step,
        **extra,
    }


def uid(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


def capture(client, org, events: list[dict[str, Any]]) -> None:
    doc = {
        "@context": [EPCIS, {"example": "http://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": events},
    }
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    response = client.post("/epcis/capture", content=json.dumps(doc).encode(), headers=headers)
    assert response.status_code == 202, response.text
    assert client.get(response.headers["location"], headers=org.headers).json()["success"] is True


def event_ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "EPCISQueryDocument"
    return [e["eventID"] for e in body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


@pytest.fixture
def stored(client, maker):
    capture(
        client,
        maker,
        [
            event(1, "shipping", **{"example:temp": 4}),
            event(2, "receiving", **{"example:temp": 9}),
            event(3, "shipping", **{"example:temp": 7}),
            event(4, "inspecting"),
        ],
    )


QUERY = {"EQ_bizStep": ["shipping", "receiving"], "eventType": ["ObjectEvent"], "GE_example:temp": 5}


def test_a_named_query_is_kept_listed_run_and_deleted(client, maker, stored):
    created = client.post("/epcis/queries", json={"name": "warm-moves", "query": QUERY}, headers=maker.headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/epcis/queries/warm-moves"
    assert created.json() == {"name": "warm-moves", "query": QUERY}
    assert client.get("/epcis/queries", headers=maker.headers).json() == [{"name": "warm-moves", "query": QUERY}]
    assert client.get("/epcis/queries/warm-moves", headers=maker.headers).json()["query"] == QUERY
    run = client.get("/epcis/queries/warm-moves/events", headers=maker.headers)
    assert event_ids(run) == [uid(2), uid(3)]
    # the same parameters in the query string answer the same events
    same = client.get(
        "/epcis/events",
        params={"EQ_bizStep": "shipping|receiving", "eventType": "ObjectEvent", "GE_example:temp": "5"},
        headers=maker.headers,
    )
    assert event_ids(same) == [uid(2), uid(3)]
    deleted = client.delete("/epcis/queries/warm-moves", headers=maker.headers)
    assert deleted.status_code == 204
    assert_problem(client.get("/epcis/queries/warm-moves/events", headers=maker.headers), 404, "query_not_found")
    assert_problem(client.delete("/epcis/queries/warm-moves", headers=maker.headers), 404, "query_not_found")


def test_a_named_query_pages_with_its_own_link(client, maker, stored):
    query = {"orderBy": "eventTime", "orderDirection": "ASC", "EXISTS_example:temp": None}
    assert client.post("/epcis/queries", json={"name": "all", "query": query}, headers=maker.headers).status_code == 201
    first = client.get("/epcis/queries/all/events", params={"perPage": "2"}, headers=maker.headers)
    assert event_ids(first) == [uid(1), uid(2)]
    link = first.headers["link"]
    assert "/epcis/queries/all/events?" in link and "nextPageToken=" in link
    second = client.get(link[1 : link.index(">")].replace("http://testserver", ""), headers=maker.headers)
    assert event_ids(second) == [uid(3)]
    assert "link" not in second.headers
    refused = client.get("/epcis/queries/all/events", params={"EQ_bizStep": "shipping"}, headers=maker.headers)
    assert "only perPage and nextPageToken" in assert_problem(refused, 400, "invalid_query_parameter")["detail"]


def test_queries_belong_to_their_organisation(client, maker, make_org, stored):
    other = make_org("manufacturer", "drug_manufacturing")
    assert (
        client.post("/epcis/queries", json={"name": "mine", "query": QUERY}, headers=maker.headers).status_code == 201
    )
    assert client.get("/epcis/queries", headers=other.headers).json() == []
    assert_problem(client.get("/epcis/queries/mine", headers=other.headers), 404, "query_not_found")
    assert_problem(client.get("/epcis/queries/mine/events", headers=other.headers), 404, "query_not_found")
    assert_problem(client.delete("/epcis/queries/mine", headers=other.headers), 404, "query_not_found")
    # the other organisation may use the same name for its own query, and it sees only its own events
    assert (
        client.post("/epcis/queries", json={"name": "mine", "query": QUERY}, headers=other.headers).status_code == 201
    )
    assert event_ids(client.get("/epcis/queries/mine/events", headers=other.headers)) == []
    assert event_ids(client.get("/epcis/queries/mine/events", headers=maker.headers)) == [uid(2), uid(3)]
    assert_problem(client.get("/epcis/queries"), 401, "missing_api_key")


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        ({"name": "q", "query": {"EQ_bizStep": ["shiping"]}}, 400, "invalid_query_parameter", "shiping"),
        ({"name": "q", "query": {"colour": "red"}}, 400, "invalid_query_parameter", "colour"),
        ({"name": "q", "query": {"HASATTR_example:f": ["x"]}}, 400, "unsupported_query_parameter", "master-data"),
        ({"name": "q", "query": {"perPage": 5}}, 400, "invalid_query_parameter", "perPage"),
        ({"name": "q", "query": {"EQ_bizStep": []}}, 400, "invalid_query_parameter", "empty list"),
        ({"name": "q", "query": {"EQ_bizStep": [{"a": 1}]}}, 400, "invalid_query_parameter", "EQ_bizStep"),
        ({"name": "q", "query": {"eventCountLimit": 2}}, 400, "invalid_query_parameter", "needs orderBy"),
        ({"name": "a/b", "query": {}}, 422, "invalid_query_name", "name"),
        ({"name": "", "query": {}}, 422, "validation_error", "name"),
        ({"name": "q", "query": ["EQ_bizStep"]}, 422, "validation_error", "query"),
        ({"name": "q", "query": {}, "extra": 1}, 422, "validation_error", "extra"),
    ],
)
def test_a_query_that_could_not_run_gets_no_name(client, maker, body, status, code, says):
    response = client.post("/epcis/queries", json=body, headers=maker.headers)
    problem = assert_problem(response, status, code)
    assert says in json.dumps(problem)
    assert client.get("/epcis/queries", headers=maker.headers).json() == []


def test_a_name_is_taken_once(client, maker):
    body = {"name": "dup", "query": {"EQ_bizStep": ["shipping"]}}
    assert client.post("/epcis/queries", json=body, headers=maker.headers).status_code == 201
    again = client.post("/epcis/queries", json={**body, "query": {}}, headers=maker.headers)
    assert_problem(again, 409, "query_exists")
    assert client.get("/epcis/queries/dup", headers=maker.headers).json()["query"] == {"EQ_bizStep": ["shipping"]}


def test_two_creations_of_one_name_at_once_keep_one(database_url, client, maker):
    """Both requests pass the check; the unique constraint decides (PostgreSQL runs them truly at once)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a race needs PostgreSQL")
    results: list[int] = []

    def create(n: int) -> None:
        body = {"name": "race", "query": {"EQ_bizStep": ["shipping" if n else "receiving"]}}
        results.append(client.post("/epcis/queries", json=body, headers=maker.headers).status_code)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [201, 409, 409, 409]
    assert len(client.get("/epcis/queries", headers=maker.headers).json()) == 1
