"""Suspect-product cases: who opens one, how it moves, what its units verify as, sales refused, quarantine,
the notices and signed webhooks of every change, the case leaves of the log (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.api.routes_pages import COOKIE
from app.db.models import CaseNotice, Unit, WebhookDelivery
from app.services import orgs, webhooks
from app.services.audit_replay import replay
from app.services.clock import utcnow
from tests.helpers import GTIN, assert_problem, ok, post, race, serial, settings_for, verify


@pytest.fixture
def settings(database_url):
    return settings_for(database_url, webhook_interval_seconds=0)  # the tests send deliveries themselves


def _open(client, org, **body):
    return client.post("/v1/cases", json={"type": "suspect", "gtin": GTIN, **body}, headers=org.headers)


def _patch(client, org, case_id, **body):
    return client.patch(f"/v1/cases/{case_id}", json=body, headers=org.headers)


@pytest.fixture
def stocked(client, maker, batch, issue, make_org):
    """Four units: three shipped to and received by a pharmacy, one still at the maker."""
    codes = [c["uri"] for c in issue(batch["id"], 4)]
    pharm = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": codes[:3], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes[:3]}))
    return codes, pharm


def test_a_handler_opens_a_case_its_units_verify_under_investigation_and_are_not_sold(client, maker, stocked, make_org):
    codes, pharm = stocked
    regulator = make_org("regulator")
    created = _open(client, pharm, serials=[serial(codes[0])], description="blister re-sealed")
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["status"] == "open" and isinstance(case["id"], int) and case["opened_by"] == pharm.id

    body = verify(client, codes[0])
    assert body["verdict"] == "suspect" and "under_investigation" in body["reasons"]
    assert verify(client, codes[1])["verdict"] == "authentic"  # not named by the case
    refused = post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"})
    assert_problem(refused, 409, "under_investigation")

    assert _patch(client, maker, case["id"], status="investigating").json()["status"] == "investigating"
    assert verify(client, codes[0])["verdict"] == "suspect"
    decided = _patch(client, regulator, case["id"], status="cleared", note="genuine; packaging damaged in transit")
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "cleared" and decided.json()["decided_at"] is not None
    assert verify(client, codes[0])["verdict"] == "authentic"  # cleared: no longer under investigation
    ok(post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"}))


def test_a_sale_of_many_units_is_refused_for_the_one_a_case_names_and_for_a_lot_in_a_case(client, maker, stocked):
    """The units of a sale are looked up in the cases together (one query per event): the one named among clean
    ones, in the middle of the list, refuses the whole sale; a case on the lot refuses a unit no case names."""
    codes, pharm = stocked
    assert _open(client, pharm, serials=[serial(codes[1])]).status_code == 201
    refused = post(client, pharm, {"action": "sell", "codes": codes[:3], "channel": "offline"})
    assert_problem(refused, 409, "under_investigation")
    assert refused.json()["unit"] == codes[1]
    ok(post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"}))

    assert _open(client, maker, type="illegitimate", lots=["LOT42"]).status_code == 201
    refused = post(client, pharm, {"action": "sell", "codes": [codes[2]], "channel": "offline"})
    assert_problem(refused, 409, "under_investigation")
    assert refused.json()["unit"] == codes[2]


def test_a_lot_in_a_case_decided_illegitimate_stays_suspect(client, maker, stocked, make_org):
    codes, _ = stocked
    regulator = make_org("regulator")
    case = _open(client, maker, type="illegitimate", lots=["LOT42"]).json()
    for code in codes:  # the whole lot, wherever it is
        assert "under_investigation" in verify(client, code)["reasons"]
    _patch(client, regulator, case["id"], status="illegitimate")
    assert verify(client, codes[3])["verdict"] == "suspect"
    closed = _patch(client, regulator, case["id"], status="closed", incident_number="FDA-3911-0042")
    assert closed.status_code == 200 and closed.json()["incident_number"] == "FDA-3911-0042"
    assert verify(client, codes[3])["verdict"] == "authentic"


def test_only_handlers_the_manufacturer_or_a_regulator_open_a_case(client, maker, stocked, make_org):
    codes, pharm = stocked
    stranger = make_org("retailer", "drug_retail")
    assert_problem(_open(client, stranger, serials=[serial(codes[0])]), 403, "not_a_handler")
    assert_problem(_open(client, stranger, lots=["LOT42"]), 403, "not_a_handler")
    # The pharmacy handled codes[0] but never codes[3] (still at the maker): one unhandled unit refuses it all.
    assert_problem(_open(client, pharm, serials=[serial(codes[0]), serial(codes[3])]), 403, "not_a_handler")
    assert _open(client, pharm, lots=["LOT42"]).status_code == 201  # it handled units of the lot
    assert _open(client, maker, serials=[serial(codes[3])]).status_code == 201
    assert _open(client, make_org("regulator"), lots=["LOT42"]).status_code == 201
    assert_problem(_open(client, maker, lots=["NOPE"]), 422, "unknown_lot")
    assert_problem(_open(client, maker, serials=["NOPE"]), 422, "unknown_serial")
    assert_problem(_open(client, maker), 422, "empty_case")
    assert_problem(_open(client, maker, gtin="09506000134353", lots=["LOT42"]), 422, "invalid_gtin")
    assert_problem(_open(client, maker, type="lost", lots=["LOT42"]), 422, "validation_error")


def test_a_case_is_decided_before_it_is_closed_and_only_a_regulator_decides(client, maker, stocked, make_org):
    codes, pharm = stocked
    regulator = make_org("regulator")
    case = _open(client, pharm, serials=[serial(codes[1])]).json()
    cid = case["id"]
    assert_problem(_patch(client, regulator, cid, status="closed", incident_number="X-1"), 409, "decision_required")
    assert_problem(_patch(client, maker, cid, status="illegitimate"), 403, "not_allowed")
    assert_problem(_patch(client, pharm, cid, status="cleared"), 403, "not_allowed")
    assert_problem(_patch(client, maker, cid, incident_number="X-1"), 403, "regulator_only")
    assert_problem(_patch(client, maker, cid), 422, "empty_change")
    assert_problem(_patch(client, maker, cid, status="shredded"), 422, "validation_error")
    assert _patch(client, pharm, cid, note="the seal looks re-glued").status_code == 200  # a note, no move
    assert _patch(client, regulator, cid, status="illegitimate").status_code == 200
    assert_problem(_patch(client, regulator, cid, status="investigating"), 409, "invalid_transition")
    assert_problem(_patch(client, regulator, cid, status="closed"), 422, "incident_number_required")
    assert _patch(client, regulator, cid, status="closed", incident_number="X-1").status_code == 200
    assert_problem(_patch(client, regulator, cid, note="late"), 409, "case_closed")
    assert_problem(_patch(client, regulator, 999_999, note="x"), 404, "case_not_found")
    assert_problem(_patch(client, regulator, 2**40, note="x"), 404, "case_not_found")

    seen = client.get(f"/v1/cases/{cid}", headers=regulator.headers).json()
    assert [c["status"] for c in seen["changes"]] == ["open", "open", "illegitimate", "closed"]
    assert seen["changes"][1]["note"] == "the seal looks re-glued"
    assert [c["seq"] for c in seen["changes"]] == [1, 2, 3, 4]


def test_who_reads_a_case(client, maker, stocked, make_org):
    codes, pharm = stocked
    stranger = make_org("retailer", "drug_retail")
    regulator = make_org("regulator")
    case = _open(client, maker, serials=[serial(codes[3])]).json()  # only the maker holds codes[3]
    assert_problem(client.get(f"/v1/cases/{case['id']}", headers=stranger.headers), 404, "case_not_found")
    assert_problem(client.get(f"/v1/cases/{case['id']}", headers=pharm.headers), 404, "case_not_found")
    assert client.get(f"/v1/cases/{case['id']}", headers=regulator.headers).status_code == 200
    lot_case = _open(client, maker, lots=["LOT42"]).json()  # the pharmacy holds units of the lot: it reads it
    assert client.get(f"/v1/cases/{lot_case['id']}", headers=pharm.headers).status_code == 200
    assert [c["id"] for c in client.get("/v1/cases", headers=pharm.headers).json()["cases"]] == [lot_case["id"]]
    assert client.get("/v1/cases", headers=stranger.headers).json()["cases"] == []
    listed = client.get("/v1/cases", params={"status": "open"}, headers=regulator.headers).json()["cases"]
    assert [c["id"] for c in listed] == [lot_case["id"], case["id"]]
    assert_problem(
        client.get("/v1/cases", params={"status": "nope"}, headers=regulator.headers), 422, "validation_error"
    )
    assert_problem(client.get("/v1/cases"), 401, "missing_api_key")


def test_quarantine_locks_the_callers_stock_of_the_case_in_one_call(client, runtime, maker, stocked, make_org):
    _, pharm = stocked
    case = _open(client, pharm, lots=["LOT42"]).json()
    done = client.post(f"/v1/cases/{case['id']}/quarantine", headers=pharm.headers)
    assert done.status_code == 200, done.text
    assert done.json()["locked"] == 3 and len(done.json()["event_ids"]) == 1
    again = client.post(f"/v1/cases/{case['id']}/quarantine", headers=pharm.headers).json()
    assert again["locked"] == 0  # nothing left to lock
    assert client.post(f"/v1/cases/{case['id']}/quarantine", headers=maker.headers).json()["locked"] == 1
    with runtime.sessions() as session:
        states = dict(session.execute(select(Unit.serial, Unit.state).where(Unit.gtin == GTIN)).all())
    assert set(states.values()) == {"locked"}
    stranger = make_org("retailer", "drug_retail")
    assert_problem(client.post(f"/v1/cases/{case['id']}/quarantine", headers=stranger.headers), 404, "case_not_found")


def test_every_change_notifies_the_maker_regulators_and_holders_with_signed_webhooks(
    client, runtime, maker, stocked, make_org
):
    codes, pharm = stocked
    regulator = make_org("regulator")
    endpoint = client.post("/v1/webhooks", json={"url": "https://hooks.example.com/p"}, headers=maker.headers)
    assert endpoint.status_code == 201, endpoint.text
    secret = endpoint.json()["secret"]
    case = _open(client, pharm, serials=[serial(codes[0])], description="odd font").json()

    seen = client.get(f"/v1/cases/{case['id']}", headers=regulator.headers).json()
    told = {n["org"]["id"]: n for n in seen["changes"][0]["notified"]}
    assert set(told) == {maker.id, regulator.id}  # the opener (the unit's only holder) is not told of its own case
    assert told[maker.id]["webhook"] == {"status": "pending", "attempts": 0, "delivered_at": None}
    assert told[regulator.id]["webhook"] is None
    assert seen["holders"] == [{"org": {"id": pharm.id, "name": seen["holders"][0]["org"]["name"]}, "units": 1}]

    sent = []

    def fake_post(url, body, headers):
        sent.append((url, body, headers))
        return 204

    later = utcnow() + timedelta(seconds=1)
    webhooks.deliver_due(runtime.sessions, runtime.keyring.master_key, post=fake_post, now=later)
    assert len(sent) == 1
    _, body, headers = sent[0]
    assert headers["Passport-Event"] == "case.opened"
    assert headers["Passport-Signature"] == webhooks.signature(secret, int(headers["Passport-Timestamp"]), body)
    payload = json.loads(body)
    assert payload["type"] == "case.opened" and payload["case"]["id"] == case["id"]
    assert payload["case"]["serials"] == [serial(codes[0])] and payload["case"]["description"] == "odd font"

    _patch(client, regulator, case["id"], status="illegitimate")
    webhooks.deliver_due(runtime.sessions, runtime.keyring.master_key, post=fake_post, now=later + timedelta(1))
    assert [json.loads(b)["type"] for _, b, _ in sent] == ["case.opened", "case.updated"]
    assert json.loads(sent[1][1])["case"]["status"] == "illegitimate"
    view = client.get(f"/v1/cases/{case['id']}", headers=maker.headers).json()
    decision = view["decision_notices"]
    assert decision["notified"] == 2  # the maker and the pharmacy (the regulator decided)
    assert decision["webhooks"] == {"pending": 0, "delivered": 1, "failed": 0}
    assert decision["seconds_to_every_webhook"] is not None and decision["seconds_to_every_webhook"] >= 0


def test_a_case_over_a_lot_held_by_a_hundred_organisations_queues_a_notice_for_each(
    client, runtime, maker, batch, issue, make_org
):
    codes = [c["uri"] for c in issue(batch["id"], 100)]
    with runtime.sessions.begin() as session:
        holders = [
            orgs.create_org(session, name=f"pharmacy {i}", role="retailer", licences=("drug_retail",), gln=None)
            for i in range(100)
        ]
    for (org, _), code in zip(holders, codes, strict=True):  # each has one unit on its way to it
        ok(post(client, maker, {"action": "ship", "codes": [code], "to": org.id}))
    with runtime.sessions() as session:
        for org, _ in holders:
            webhooks.register_endpoint(
                session,
                orgs.Principal(org.id, org.name, org.role, frozenset()),
                f"https://h{org.id}.example.com/",
                master_key=runtime.keyring.master_key,
            )
        session.commit()
    # how long this takes is measured by scripts/bench_partner_verify.py (goal < 1 s), not asserted here
    case = _open(client, maker, lots=["LOT42"])
    assert case.status_code == 201, case.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(CaseNotice)) == 100
        assert session.scalar(select(func.count()).where(WebhookDelivery.event_type == "case.opened")) == 100


def test_case_changes_are_log_leaves_read_by_the_parties_and_replayed(client, runtime, maker, stocked, make_org):
    codes, pharm = stocked
    stranger = make_org("retailer", "drug_retail")
    case = _open(client, pharm, serials=[serial(codes[0])]).json()
    _patch(client, make_org("regulator"), case["id"], status="cleared")
    view = client.get(f"/v1/cases/{case['id']}", headers=maker.headers).json()
    index = view["changes"][1]["log_index"]
    mine = client.get("/v1/log/entries", params={"start": index, "end": index + 1}, headers=maker.headers)
    assert mine.status_code == 200, mine.text
    leaf = mine.json()["entries"][0]
    assert leaf is not None
    document = json.loads(base64.b64decode(leaf))
    assert document["kind"] == "case" and document["case"] == case["id"] and document["status"] == "cleared"
    assert document["previous"] == "open" and document["seq"] == 2
    hidden = client.get("/v1/log/entries", params={"start": index, "end": index + 1}, headers=stranger.headers)
    assert hidden.json()["entries"][0] is None
    with runtime.engine.connect() as conn:
        report = replay(conn)
    assert report.ok, report.text()


def test_the_regulator_pages_list_cases_and_show_one_with_units_holders_and_notices(client, maker, stocked, make_org):
    codes, pharm = stocked
    regulator = make_org("regulator")
    case = _open(client, pharm, serials=[serial(codes[0])], description="封口有二次粘合痕迹").json()
    _patch(client, regulator, case["id"], status="illegitimate", note="wrong font")
    cookie = {"Cookie": f"{COOKIE}={regulator.api_key}"}
    listed = client.get("/regulator/cases?lang=en", headers=cookie)
    assert listed.status_code == 200, listed.text
    assert f'data-case="{case["id"]}"' in listed.text and "illegitimate" in listed.text
    page = client.get(f"/regulator/cases/{case['id']}?lang=zh", headers=cookie)
    assert page.status_code == 200, page.text
    assert "案件" in page.text and "认定非法" in page.text and "封口有二次粘合痕迹" in page.text
    assert 'id="holders"' in page.text and "wrong font" in page.text
    assert client.get("/regulator/cases/999999?lang=en", headers=cookie).status_code == 404
    body = verify(client, codes[0])
    assert body["reasons"][0] == "under_investigation"

    # One click on the case page locks the signed-in organisation's stock of the case (the maker holds codes[3]).
    lot_case = _open(client, maker, lots=["LOT42"]).json()
    maker_cookie = {"Cookie": f"{COOKIE}={maker.api_key}"}
    form = {**maker_cookie, "Content-Type": "application/x-www-form-urlencoded"}
    shown = client.get(f"/regulator/cases/{lot_case['id']}?lang=en", headers=maker_cookie)
    assert 'id="quarantine"' in shown.text
    cross = client.post(
        f"/regulator/cases/{lot_case['id']}/quarantine", headers={**form, "Origin": "https://evil.test"}
    )
    assert cross.status_code == 403
    clicked = client.post(
        f"/regulator/cases/{lot_case['id']}/quarantine",
        headers={**form, "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert clicked.status_code == 303, clicked.text
    assert clicked.headers["location"].endswith("locked=1")
    after = client.get(clicked.headers["location"], headers=maker_cookie)
    assert 'id="locked"' in after.text and "1 unit locked." in after.text
    assert verify(client, codes[3])["state"] == "locked"
    shown = client.get(codes[0].replace("https://passport.test", ""), headers={"Accept": "text/html"})
    assert shown.status_code == 200


@pytest.mark.postgres_only
def test_concurrent_changes_to_one_case_take_turns(client, runtime, maker, stocked, make_org, http, pool):
    codes, pharm = stocked
    regulator = make_org("regulator")
    case = _open(client, pharm, serials=[serial(codes[0])]).json()
    clients = [http() for _ in range(6)]
    calls = [
        (lambda c=c, n=n: c.patch(f"/v1/cases/{case['id']}", json={"note": f"n{n}"}, headers=regulator.headers))
        for n, c in enumerate(clients)
    ]
    responses = race(pool, calls)
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    view = client.get(f"/v1/cases/{case['id']}", headers=regulator.headers).json()
    assert [c["seq"] for c in view["changes"]] == list(range(1, 8))
    assert len({c["log_index"] for c in view["changes"]}) == 7
    with runtime.engine.connect() as conn:
        assert replay(conn).ok
