"""A scripted journey: factory -> distributor -> pharmacy -> sold offline; online sale with a prescription;
a pallet of cases shipped and received in one event each; a resale refused and alerted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.db.models import Alert, Event, EventItem, Unit
from tests.helpers import GTIN, SSCC_CASE_1, SSCC_CASE_2, SSCC_PALLET, assert_problem, ok, post, snapshot, verify


@pytest.fixture
def parties(make_org):
    return {
        "distributor": make_org("distributor", "drug_wholesale"),
        "pharmacy": make_org("retailer", "drug_retail"),
        "online": make_org("retailer", "drug_retail", "online_drug_sales"),
        "market": make_org("platform"),
        "regulator": make_org("regulator"),
        "stranger": make_org("retailer", "drug_retail"),
    }


def test_offline_journey_and_resale(client, runtime, maker, batch, issue, parties):
    code = issue(batch["id"], 1)[0]
    dist, pharm = parties["distributor"], parties["pharmacy"]
    assert verify(client, code["uri"])["state"] == "issued"
    ok(post(client, maker, {"action": "ship", "codes": [code["uri"]], "to": dist.id, "region": "CN-31"}))
    assert verify(client, code["uri"])["state"] == "in_supply_chain"
    ok(post(client, dist, {"action": "receive", "codes": [code["uri"]], "region": "CN-32"}))
    ok(post(client, dist, {"action": "ship", "codes": [code["uri"]], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code["uri"]], "region": "CN-11"}))
    sold = ok(post(client, pharm, {"action": "sell", "codes": [code["uri"]], "channel": "offline", "region": "CN-11"}))
    assert sold[0]["status"] == "accepted" and isinstance(sold[0]["event_id"], int)

    body = verify(client, code["uri"])
    assert body["state"] == "sold" and body["verdict"] == "authentic"
    assert [s["step"] for s in body["journey"]] == [
        "issued",
        "shipped",
        "received",
        "shipped",
        "received",
        "sold_in_store",
    ]
    assert "name" not in str(body["journey"]) and all(set(s) == {"step", "at", "region"} for s in body["journey"])

    before = snapshot(runtime)
    resale = post(client, parties["stranger"], {"action": "sell", "codes": [code["uri"]], "channel": "offline"})
    problem = assert_problem(resale, 409, "already_sold")
    assert snapshot(runtime) == before
    with runtime.sessions() as session:
        alert = session.scalars(select(Alert).where(Alert.type == "repeat_sale")).one()
    assert alert.details["first_sale"]["channel"] == "offline" and alert.details["first_sale"]["region"] == "CN-11"
    assert problem["alert_id"] == alert.id
    after = verify(client, code["uri"])
    assert after["verdict"] == "suspect" and "repeat_sale" in after["reasons"]

    history = client.get(f"/v1/units/{GTIN}/{code['serial']}/history", headers=parties["regulator"].headers).json()
    assert [e["action"] for e in history["events"]] == ["ship", "receive", "ship", "receive", "sell"]
    mine = client.get(f"/v1/units/{GTIN}/{code['serial']}/history", headers=dist.headers).json()
    assert [e["action"] for e in mine["events"]] == ["ship", "receive", "ship"]
    assert_problem(
        client.get(f"/v1/units/{GTIN}/{code['serial']}", headers=parties["online"].headers),
        403,
        "foreign_unit",
    )
    record = client.get(f"/v1/units/{GTIN}/{code['serial']}", headers=maker.headers).json()
    assert record["state"] == "sold" and record["holder"]["id"] == pharm.id and record["recalls"] == []


def test_online_sale_with_prescription(client, runtime, make_org, issue, parties):
    rx_maker = make_org("manufacturer", "drug_manufacturing")
    gtin = "04006381333931"
    assert (
        client.post(
            "/v1/products",
            json={"gtin": gtin, "name": "Amoxicillin", "category": "drug_rx"},
            headers=rx_maker.headers,
        ).status_code
        == 201
    )
    rx_batch = client.post(
        "/v1/batches",
        json={"gtin": gtin, "lot": "RX1", "manufactured_on": "2026-01-01", "expires_on": "2028-01-01"},
        headers=rx_maker.headers,
    ).json()
    codes = [c["uri"] for c in issue(rx_batch["id"], 3, org=rx_maker)]
    online, market = parties["online"], parties["market"]
    ok(post(client, rx_maker, {"action": "ship", "codes": codes, "to": online.id}))
    ok(post(client, online, {"action": "receive", "codes": codes}))
    now = datetime.now(UTC)
    sale = {
        "action": "sell",
        "codes": [codes[0]],
        "channel": "online",
        "platform": market.id,
        "order_ref": "T-1",
        "region": "CN-44",
    }
    assert_problem(post(client, online, sale), 409, "prescription_required")
    late = {"id": "RX-1", "prescriber": "Dr Li", "issued_at": (now + timedelta(minutes=1)).isoformat()}
    assert_problem(post(client, online, {**sale, "prescription": late}), 409, "prescription_required")
    good = {"id": "RX-1", "prescriber": "Dr Li", "issued_at": (now - timedelta(hours=2)).isoformat()}
    ok(post(client, online, {**sale, "prescription": good}))
    reuse = {**sale, "codes": [codes[1]], "prescription": good, "order_ref": "T-2"}
    assert_problem(post(client, online, reuse), 409, "prescription_used")
    assert_problem(
        post(client, online, {**reuse, "platform": parties["pharmacy"].id, "prescription": None}),
        409,
        "invalid_platform",
    )
    offline_shop = parties["pharmacy"]
    assert_problem(post(client, offline_shop, {**sale, "codes": [codes[2]]}), 409, "not_custodian")
    body = verify(client, codes[0])
    assert body["state"] == "sold" and body["journey"][-1]["step"] == "sold_online"
    assert "T-1" not in str(body)
    with runtime.sessions() as session:
        kinds = sorted(tuple(row) for row in session.execute(select(Alert.type, Alert.count)))
    # codes[0]'s two refusals count on one open alert; codes[1] has its own
    assert kinds == [("custody_violation", 1), ("prescription_missing", 1), ("prescription_missing", 2)]


def test_pallet_of_cases_moves_in_one_event(client, runtime, maker, batch, issue, parties):
    codes = [c["uri"] for c in issue(batch["id"], 20)]
    dist = parties["distributor"]
    ok(post(client, maker, {"action": "pack", "codes": codes[:10], "container": f"(00){SSCC_CASE_1}"}))
    ok(
        post(
            client,
            maker,
            {"action": "pack", "codes": codes[10:], "container": f"https://x.example/00/{SSCC_CASE_2}"},
        )
    )
    ok(
        post(
            client,
            maker,
            {
                "action": "pack",
                "codes": [f"(00){SSCC_CASE_1}", f"(00){SSCC_CASE_2}"],
                "container": f"(00){SSCC_PALLET}",
            },
        )
    )
    with runtime.sessions() as session:
        items_before = session.scalar(select(func.count()).select_from(EventItem))
    ok(post(client, maker, {"action": "ship", "codes": [f"(00){SSCC_PALLET}"], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [f"(00){SSCC_PALLET}"]}))
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(EventItem)) == items_before + 2
        assert set(session.scalars(select(Unit.state))) == {"issued"}  # unit rows untouched by the hops
    for uri in (codes[0], codes[15]):
        assert verify(client, uri)["state"] == "in_supply_chain"
    serial = codes[3].split("/21/")[1].split("?")[0]
    history = client.get(f"/v1/units/{GTIN}/{serial}/history", headers=maker.headers).json()["events"]
    assert [(e["action"], e["via_container"]) for e in history] == [
        ("pack", None),
        ("pack", SSCC_CASE_1),
        ("ship", SSCC_PALLET),
        ("receive", SSCC_PALLET),
    ]
    # The distributor sells nothing (no licence) but can take one unit out of the case and ship it on.
    pharm = parties["pharmacy"]
    ok(post(client, dist, {"action": "ship", "codes": [codes[0]], "to": pharm.id}))
    assert verify(client, codes[1])["state"] == "in_supply_chain"
    ok(post(client, dist, {"action": "unpack", "codes": [f"(00){SSCC_PALLET}"]}))
    ok(post(client, dist, {"action": "ship", "codes": [f"(00){SSCC_CASE_2}"], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [f"(00){SSCC_CASE_2}", codes[0]]}))
    ok(post(client, pharm, {"action": "sell", "codes": [codes[12]], "channel": "offline"}))
    assert verify(client, codes[12])["state"] == "sold"
    assert verify(client, codes[13])["state"] == "in_supply_chain"
    assert_problem(
        post(client, pharm, {"action": "sell", "codes": [codes[5]], "channel": "offline"}),
        409,
        "not_custodian",
    )


def test_partial_receipt_leaves_the_rest_in_transit(client, maker, batch, issue, parties):
    codes = [c["uri"] for c in issue(batch["id"], 3)]
    dist = parties["distributor"]
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": dist.id}))
    assert_problem(
        post(client, parties["pharmacy"], {"action": "receive", "codes": codes[:1]}),
        409,
        "not_addressed_to_you",
    )
    ok(post(client, dist, {"action": "receive", "codes": codes[:2]}))
    record = client.get(f"/v1/units/{GTIN}/{codes[2].split('/21/')[1].split('?')[0]}", headers=maker.headers).json()
    assert record["status"] == "in_transit" and record["in_transit_to"]["id"] == dist.id


def test_idempotency_and_double_fire(client, runtime, maker, batch, issue, parties):
    code = issue(batch["id"], 1)[0]["uri"]
    dist = parties["distributor"]
    body = {"action": "ship", "codes": [code], "to": dist.id, "idempotency_key": "line-7-0001"}
    first = ok(post(client, maker, body))[0]
    again = ok(post(client, maker, body))[0]
    assert again == {**first, "status": "duplicate"}
    fired_twice = ok(post(client, maker, {"action": "ship", "codes": [code], "to": dist.id}))[0]
    assert fired_twice["status"] == "duplicate" and fired_twice["event_id"] == first["event_id"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(func.count()).select_from(Alert)) == 0


def test_undo_a_sale_within_the_window(client, maker, batch, issue, parties, make_org):
    code = issue(batch["id"], 1)[0]["uri"]
    pharm = parties["pharmacy"]
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code]}))
    sale = ok(post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}))[0]
    assert_problem(post(client, maker, {"action": "undo", "event_id": sale["event_id"]}), 403, "foreign_event")
    ok(post(client, pharm, {"action": "undo", "event_id": sale["event_id"]}))
    assert verify(client, code)["state"] == "in_supply_chain"
    assert_problem(post(client, pharm, {"action": "undo", "event_id": sale["event_id"]}), 409, "already_undone")
    ok(post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}))
    destroy_code = issue(batch["id"], 1)[0]["uri"]
    destroyed = ok(post(client, maker, {"action": "destroy", "codes": [destroy_code]}))[0]
    assert_problem(post(client, maker, {"action": "undo", "event_id": destroyed["event_id"]}), 409, "not_undoable")
    assert verify(client, destroy_code)["verdict"] == "suspect"


def test_store_and_forward_applies_in_time_order(client, maker, batch, issue, parties):
    codes = [c["uri"] for c in issue(batch["id"], 2)]
    pharm = parties["pharmacy"]
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": pharm.id}))
    t0 = datetime.now(UTC) - timedelta(hours=3)
    batch_body = {
        "atomic": False,
        "events": [
            {
                "action": "sell",
                "codes": [codes[0]],
                "channel": "offline",
                "occurred_at": (t0 + timedelta(hours=1)).isoformat(),
            },
            {"action": "receive", "codes": codes, "occurred_at": t0.isoformat()},
            {
                "action": "sell",
                "codes": [codes[0]],
                "channel": "offline",
                "occurred_at": (t0 + timedelta(hours=2)).isoformat(),
            },
            {"action": "sell", "codes": ["(01)09506000134352(21)NOPE"], "channel": "offline"},
        ],
    }
    results = ok(post(client, pharm, batch_body))
    assert [r["status"] for r in results] == ["accepted", "accepted", "rejected", "rejected"]
    assert results[2]["problem"]["code"] == "already_sold"
    assert results[3]["problem"]["code"] == "unknown_code"


def test_atomic_list_is_all_or_nothing(client, runtime, maker, batch, issue, parties):
    codes = [c["uri"] for c in issue(batch["id"], 2)]
    before = snapshot(runtime)
    body = {
        "events": [
            {"action": "ship", "codes": [codes[0]], "to": parties["distributor"].id},
            {"action": "sell", "codes": [codes[1]], "channel": "offline"},
        ]
    }
    problem = assert_problem(post(client, maker, body), 409, "licence_required")
    assert problem["index"] == 1
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "teleport", "codes": ["(01)09506000134352(21)A"]}, 422, "invalid_action"),
        ({"action": "ship", "codes": ["(01)09506000134352(21)A"]}, 422, "destination_required"),
        ({"action": "ship", "codes": ["(01)09506000134352(21)A"], "to": "nobody"}, 404, "org_not_found"),
        ({"action": "sell", "codes": ["(01)09506000134353(21)A"], "channel": "offline"}, 422, "invalid_gtin"),
        ({"action": "sell", "codes": ["(01)09506000134352(21)A"], "channel": "tv"}, 422, "validation_error"),
        ({"action": "sell", "codes": []}, 422, "codes_required"),
        (
            {"action": "sell", "codes": ["(01)09506000134352(21)A"], "channel": "offline", "extra": 1},
            422,
            "validation_error",
        ),
        ({"events": []}, 422, "validation_error"),
        ([1, 2], 422, "validation_error"),
        ({"action": "pack", "codes": ["(01)09506000134352(21)A"]}, 422, "container_required"),
        (
            {
                "action": "sell",
                "codes": ["(01)09506000134352(21)A"],
                "channel": "offline",
                "occurred_at": "2026-01-01T00:00:00",
            },
            422,
            "validation_error",
        ),
    ],
)
def test_malformed_events_change_nothing(client, runtime, maker, batch, issue, body, status, code):
    issue(batch["id"], 1)
    before = snapshot(runtime)
    assert_problem(client.post("/v1/events", json=body, headers=maker.headers), status, code)
    assert snapshot(runtime) == before


def test_out_of_order_and_foreign_requests_change_nothing(client, runtime, maker, batch, issue, parties):
    code = issue(batch["id"], 1)[0]["uri"]
    dist, pharm = parties["distributor"], parties["pharmacy"]
    before = snapshot(runtime)
    assert_problem(post(client, dist, {"action": "receive", "codes": [code]}), 409, "not_in_transit")
    assert_problem(post(client, dist, {"action": "ship", "codes": [code], "to": pharm.id}), 409, "not_custodian")
    assert_problem(post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}), 409, "not_custodian")
    assert_problem(post(client, dist, {"action": "unpack", "codes": [f"(00){SSCC_PALLET}"]}), 404, "unknown_container")
    assert_problem(post(client, dist, {"action": "undo", "event_id": 999}), 404, "event_not_found")
    assert snapshot(runtime) == before
    with runtime.sessions() as session:
        alerts = session.execute(select(Alert.type, Alert.org_id, Alert.count).order_by(Alert.id)).all()
    # A receipt nobody shipped and a sale by someone who never held the unit are custody violations: one open
    # alert for the code, raised by the first, counting the second.
    assert alerts == [("custody_violation", dist.id, 2)]


def test_event_bodies_over_the_limit_are_refused(settings, runtime, maker):
    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.helpers import settings_for

    small = settings_for(settings.database_url, max_event_body_bytes=2048)
    with TestClient(create_app(small, runtime)) as client:
        body = {"action": "ship", "codes": ["(01)09506000134352(21)A" + str(i) for i in range(200)], "to": maker.id}
        assert_problem(client.post("/v1/events", json=body, headers=maker.headers), 413, "payload_too_large")
        many = {"events": [{"action": "lock", "codes": ["(01)09506000134352(21)A"]}] * 1001}
        big = settings_for(settings.database_url)
    with TestClient(create_app(big, runtime)) as client:
        assert_problem(client.post("/v1/events", json=many, headers=maker.headers), 422, "validation_error")


def test_only_sale_attempts_raise_sale_alerts(client, runtime, maker, batch, issue, parties):
    code = issue(batch["id"], 1)[0]["uri"]
    pharm = parties["pharmacy"]
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code]}))
    ok(post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}))
    assert_problem(post(client, pharm, {"action": "ship", "codes": [code], "to": maker.id}), 409, "already_sold")
    with runtime.sessions() as session:
        assert session.scalars(select(Alert.type)).all() == []


def test_unknown_codes_in_events_are_triaged(client, runtime, maker, batch, issue, parties):
    serial = issue(batch["id"], 1)[0]["serial"]
    slip = ("3" if serial[0] != "3" else "4") + serial[1:]
    body = {"action": "ship", "codes": [f"(01){GTIN}(21){slip}"], "to": parties["distributor"].id}
    problem = assert_problem(post(client, maker, body), 404, "unknown_code")
    assert problem["triage"] == "misscan" and "slip" in problem["detail"]
    fake = {"action": "ship", "codes": [f"(01){GTIN}(21)QQQQQQQQQQQQ"], "to": parties["distributor"].id}
    assert_problem(post(client, maker, fake), 404, "unknown_code")
    with runtime.sessions() as session:
        assert session.execute(select(Alert.type, Alert.serial)).all() == [("unknown_code", "QQQQQQQQQQQQ")]


def test_a_split_pack_dispensed_in_parts_is_no_repeat_sale(client, runtime, make_org, issue, parties):
    clinic_maker = make_org("manufacturer", "drug_manufacturing")
    gtin = "04006381333931"
    client.post(
        "/v1/products", json={"gtin": gtin, "name": "Tablets", "category": "drug_otc"}, headers=clinic_maker.headers
    )
    lot = client.post(
        "/v1/batches",
        json={"gtin": gtin, "lot": "S1", "manufactured_on": "2026-01-01", "expires_on": "2028-01-01"},
        headers=clinic_maker.headers,
    ).json()
    code = issue(lot["id"], 1, org=clinic_maker)[0]["uri"]
    pharm, other = parties["pharmacy"], parties["stranger"]
    ok(post(client, clinic_maker, {"action": "ship", "codes": [code], "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": [code]}))
    ok(post(client, pharm, {"action": "open", "codes": [code]}))
    for minutes in (0, 60, 120):  # three patients, a part each, hours apart
        at = (datetime.now(UTC) - timedelta(hours=3) + timedelta(minutes=minutes)).isoformat()
        ok(post(client, pharm, {"action": "dispense", "codes": [code], "occurred_at": at}))
    assert_problem(post(client, other, {"action": "dispense", "codes": [code]}), 409, "not_custodian")
    with runtime.sessions() as session:
        assert session.scalars(select(Alert.type)).all() == ["custody_violation"]
    assert verify(client, code)["verdict"] == "authentic"
