"""Every valid EPCIS 2.0 JSON-LD document is captured, or refused for a reason about the document: inline
``@context`` term definitions, aliases and custom vocabularies; one eventID for two different events."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.db.models import EpcisEvent
from app.services.epcis.hash import event_hashes

EPCIS = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NS = "http://ns.example.com/epcis/"


def document(events: list[dict[str, Any]], *inline: Any) -> dict[str, Any]:
    return {
        "@context": [EPCIS, *inline],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": events},
    }


def event(serial: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": "2026-11-20T08:00:00.000Z",
        "eventTimeZoneOffset": "+08:00",
        "epcList": [f"urn:epc:id:sgtin:0614141.107346.{serial}"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        **extra,
    }


def capture(client, org, doc: dict[str, Any], behaviour: str | None = None) -> dict[str, Any]:
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    if behaviour:
        headers["GS1-Capture-Error-Behaviour"] = behaviour
    response = client.post("/epcis/capture", content=json.dumps(doc).encode(), headers=headers)
    assert response.status_code == 202, response.text
    job = client.get(response.headers["location"], headers=org.headers)
    assert job.status_code == 200, job.text
    body: dict[str, Any] = job.json()
    assert body["running"] is False
    return body


TERMS = {
    "example": NS,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "example:temperature": {"@type": "xsd:decimal"},
    "example:certificate": {"@type": "@id"},
    "example:batchSize": {"@type": "xsd:integer"},
    "lab": {"@id": "example:lab", "@type": "@id"},
    "@version": 1.1,
}


def test_a_document_with_term_definitions_is_captured_and_hashed(client, runtime, maker):
    sent = event(
        "T1",
        **{
            "example:temperature": 4.5,
            "example:certificate": "https://certs.example.com/1",
            "example:lab": "urn:x:lab:7",
            "example:batchSize": 120,
        },
    )
    job = capture(client, maker, document([sent], TERMS))
    assert job["success"] is True, job["errors"]
    assert job["capturedCount"] == 1
    with runtime.sessions() as session:
        row = session.scalars(select(EpcisEvent)).one()
    assert row.event_id == event_hashes(document([sent], TERMS))[0]
    assert row.document["example:batchSize"] == 120
    assert row.context == [TERMS]
    # the same event under plain prefix definitions is the same event (type coercions change no hash)
    again = capture(client, maker, document([sent], {"example": NS}))
    assert (again["capturedCount"], again["duplicateCount"]) == (0, 1), again
    # a field named by a bare alias is not valid EPCIS JSON (extension names are prefixed): refused, and why
    aliased = {k: v for k, v in sent.items() if k != "example:lab"} | {"lab": "urn:x:lab:7"}
    refused = capture(client, maker, document([aliased], TERMS))
    assert refused["errors"][0]["code"] == "schema_validation_failed"
    assert "'lab'" in refused["errors"][0]["detail"]


def test_an_event_id_naming_two_different_events_in_one_document_is_reported(client, runtime, maker):
    same_id = "urn:uuid:2b1a4c55-1d7e-4f3e-9a77-5f0b6a1e2c3d"
    first, second = event("D1", eventID=same_id), event("D2", eventID=same_id)
    refused = capture(client, maker, document([first, second]))
    assert refused["success"] is False and refused["capturedCount"] == 0
    (error,) = refused["errors"]
    assert (error["code"], error["index"], error["eventID"]) == ("event_id_taken", 1, same_id)
    assert "event 0 of this document" in error["detail"] and "different event" in error["detail"]
    kept = capture(client, maker, document([first, second]), behaviour="proceed")
    assert kept["capturedCount"] == 1 and [e["index"] for e in kept["errors"]] == [1]
    with runtime.sessions() as session:
        rows = session.scalars(select(EpcisEvent)).all()
    assert [r.document["epcList"] for r in rows] == [first["epcList"]]
    # the same event twice under one eventID is a duplicate, not an error
    twice = capture(client, maker, document([event("D3", eventID="urn:uuid:x-3"), event("D3", eventID="urn:uuid:x-3")]))
    assert (twice["success"], twice["capturedCount"], twice["duplicateCount"]) == (True, 1, 1)
    # and against a stored event: the stored one keeps its eventID
    later = capture(client, maker, document([event("D9", eventID=same_id)]))
    assert later["errors"][0]["code"] == "event_id_taken" and "already captured" in later["errors"][0]["detail"]
