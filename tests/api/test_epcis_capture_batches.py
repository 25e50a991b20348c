"""EPCIS capture's batch lane: runs of plain moves are recorded as one ``record_events`` list, and a batch that
fails is captured again one event at a time, so errors, alerts, duplicates and both error behaviours come out
exactly as they do event by event."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.db.models import Alert, EpcisEpc, EpcisEvent, Event
from app.services.epcis import apply, run
from tests.api.test_epcis_capture import GLN_DIST, GLN_PHARM, JSON, capture, dl, document, object_event, party
from tests.helpers import BASE_URL


@pytest.fixture
def chain(make_org):
    return {
        "distributor": make_org("distributor", "drug_wholesale", gln=GLN_DIST),
        "pharmacy": make_org("retailer", "drug_retail", gln=GLN_PHARM),
    }


@pytest.fixture
def lists(monkeypatch) -> list[int]:
    """Batches of 3; the length of every list the capture gives ``record_events``."""
    monkeypatch.setattr(run, "BATCH", 3)
    sizes: list[int] = []
    real = apply.record_events

    def spy(session, principal, events, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(events))
        return real(session, principal, events, **kwargs)

    monkeypatch.setattr(apply, "record_events", spy)
    return sizes


def ship(code: dict[str, Any], minutes: int) -> dict[str, Any]:
    return object_event([dl(code["serial"])], "shipping", minutes, destinationList=party(GLN_DIST))


def state(client, code: dict[str, Any]) -> str:
    body: dict[str, Any] = client.get(code["uri"].replace(BASE_URL, ""), headers=JSON).json()
    return str(body["state"])


def test_plain_moves_are_recorded_in_lists_and_stored_like_single_events(
    client, runtime, maker, batch, issue, chain, lists
):
    codes = issue(batch["id"], 7)
    job = capture(client, maker, document(*(ship(c, i) for i, c in enumerate(codes))))
    assert (job["success"], job["capturedCount"], job["duplicateCount"], job["errors"]) == (True, 7, 0, [])
    assert lists == [3, 3, 1]
    assert {state(client, c) for c in codes} == {"in_supply_chain"}
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
    events = [ship(c, i) for i, c in enumerate(codes)]
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
        assert {state(client, c) for c in codes} == {"issued"}
    else:
        assert (job["success"], job["capturedCount"], stored, natives) == (False, 5, 5, 5)
        assert lists == [3, 1, 1, 1, 3]  # the failing batch again one by one; the next batch as a list
        assert {state(client, c) for c in codes} == {"in_supply_chain"}


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
        alerts = session.execute(select(Alert.type, Alert.serial, Alert.count).where(Alert.org_id == pharm.id)).all()
    assert [(a.type, a.serial, a.count) for a in alerts] == [("custody_violation", codes[3]["serial"], 1)]
    assert job["errors"][0]["alert_id"] is not None


def test_the_same_event_twice_is_a_duplicate_in_a_batch_and_across_captures(
    client, runtime, maker, batch, issue, chain, lists
):
    codes = issue(batch["id"], 3)
    events = [ship(codes[0], 1), ship(codes[1], 2), ship(codes[0], 1), ship(codes[2], 3)]
    first = capture(client, maker, document(*events))
    assert (first["success"], first["capturedCount"], first["duplicateCount"]) == (True, 3, 1)
    again = capture(client, maker, document(*events), behaviour="proceed")
    assert (again["success"], again["capturedCount"], again["duplicateCount"]) == (True, 0, 4)
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EpcisEvent)) == 3
        assert session.scalar(select(func.count()).select_from(Event)) == 3
