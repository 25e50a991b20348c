"""Recalls: who may recall, scope, verification says recalled, sales refused and alerted, the trace's counts."""

from __future__ import annotations

import csv
import io

from sqlalchemy import func, select

from app.db.models import Alert, Recall
from tests.helpers import GTIN, SSCC_CASE_1, SSCC_PALLET, assert_problem, ok, post, serial, verify


def test_recall_rights_and_scope_validation(client, maker, batch, issue, make_org):
    rival = make_org("manufacturer", "drug_manufacturing")
    body = {"gtin": GTIN, "lots": ["LOT42"], "reason": "contamination", "class": "I"}
    assert_problem(client.post("/v1/recalls", json=body, headers=rival.headers), 403, "foreign_product")
    assert_problem(
        client.post("/v1/recalls", json=body, headers=make_org("retailer", "drug_retail").headers), 403, "wrong_role"
    )
    assert_problem(
        client.post("/v1/recalls", json={**body, "lots": ["NOPE"]}, headers=maker.headers), 422, "unknown_lot"
    )
    assert_problem(
        client.post("/v1/recalls", json={**body, "class": "IV"}, headers=maker.headers), 422, "validation_error"
    )
    regulator = make_org("regulator")
    created = client.post("/v1/recalls", json=body, headers=regulator.headers)
    assert created.status_code == 201, created.text
    recall = created.json()
    assert recall["class"] == "I" and recall["lots"] == ["LOT42"] and recall["status"] == "open"
    done = client.post(f"/v1/recalls/{recall['id']}/complete", headers=maker.headers).json()
    assert done["status"] == "completed"
    assert_problem(client.post(f"/v1/recalls/{recall['id']}/complete", headers=maker.headers), 409, "recall_completed")
    assert client.delete(f"/v1/recalls/{recall['id']}", headers=maker.headers).status_code == 405


def test_recalled_units_verify_as_recalled_and_cannot_be_sold(client, runtime, maker, batch, issue, make_org):
    codes = [c["uri"] for c in issue(batch["id"], 4)]
    pharm = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": pharm.id}))
    ok(post(client, pharm, {"action": "receive", "codes": codes}))
    ok(post(client, pharm, {"action": "sell", "codes": [codes[0]], "channel": "offline"}))
    recall = client.post(
        "/v1/recalls",
        json={
            "gtin": GTIN,
            "serials": [serial(codes[1]), serial(codes[2])],
            "reason": "wrong strength printed",
            "class": "II",
            "instructions": "Return it to the pharmacy.",
        },
        headers=maker.headers,
    ).json()
    body = verify(client, codes[1])
    assert body["verdict"] == "recalled" and body["reasons"][0] == "recalled"
    assert body["recall"] == {
        "id": recall["id"],
        "class": "II",
        "reason": "wrong strength printed",
        "instructions": "Return it to the pharmacy.",
    }
    assert verify(client, codes[3])["verdict"] == "authentic"
    assert_problem(post(client, pharm, {"action": "sell", "codes": [codes[1]], "channel": "offline"}), 409, "recalled")
    with runtime.sessions() as session:
        assert session.scalars(select(Alert.type)).all() == ["recalled_sale_attempt"]
    record = client.get(f"/v1/units/{GTIN}/{serial(codes[2])}", headers=maker.headers).json()
    assert record["recalls"] == [
        {
            "id": recall["id"],
            "class": "II",
            "reason": "wrong strength printed",
            "trace": f"/v1/recalls/{recall['id']}/trace",
        }
    ]
    extended = client.post(
        f"/v1/recalls/{recall['id']}/extend", json={"serials": [serial(codes[3])]}, headers=maker.headers
    ).json()
    assert len(extended["serials"]) == 3 and verify(client, codes[3])["verdict"] == "recalled"
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Recall)) == 1


def test_trace_counts_holders_transit_sales_and_hops(client, maker, batch, issue, make_org):
    codes = [c["uri"] for c in issue(batch["id"], 12)]
    dist = make_org("distributor", "drug_wholesale")
    shop = make_org("retailer", "drug_retail")
    web = make_org("retailer", "drug_retail", "online_drug_sales")
    market = make_org("platform")
    ok(post(client, maker, {"action": "pack", "codes": codes[:6], "container": f"(00){SSCC_CASE_1}"}))
    ok(post(client, maker, {"action": "pack", "codes": [f"(00){SSCC_CASE_1}"], "container": f"(00){SSCC_PALLET}"}))
    ok(post(client, maker, {"action": "ship", "codes": [f"(00){SSCC_PALLET}", *codes[6:10]], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [f"(00){SSCC_PALLET}", *codes[6:10]]}))
    ok(post(client, dist, {"action": "ship", "codes": codes[:2], "to": shop.id}))  # taken out of the case
    ok(post(client, dist, {"action": "ship", "codes": codes[6:8], "to": web.id}))
    ok(post(client, shop, {"action": "receive", "codes": codes[:2]}))
    ok(post(client, web, {"action": "receive", "codes": codes[6:8]}))
    ok(post(client, shop, {"action": "sell", "codes": [codes[0]], "channel": "offline"}))
    ok(
        post(
            client,
            web,
            {"action": "sell", "codes": [codes[6]], "channel": "online", "platform": market.id, "order_ref": "A-1"},
        )
    )
    ok(post(client, dist, {"action": "ship", "codes": [codes[8]], "to": shop.id}))  # still in transit
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    ).json()
    ok(post(client, web, {"action": "destroy", "codes": [codes[7]]}))
    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=maker.headers).json()
    assert trace["units_total"] == 12
    assert trace["by_state"] == {"sold": 2, "in_supply_chain": 7, "destroyed": 1, "issued": 2}
    holders = {h["org"]["id"]: h["units"] for h in trace["holders"]}
    assert holders == {dist.id: 5, shop.id: 1, maker.id: 2}
    assert [(t["from"]["id"], t["to"]["id"], t["units"]) for t in trace["in_transit"]] == [(dist.id, shop.id, 1)]
    assert trace["sold"]["offline"] == 1 and trace["sold"]["online"] == 1
    assert [(p["platform"]["id"], p["units"]) for p in trace["sold"]["online_by_platform"]] == [(market.id, 1)]
    assert trace["recovered_since_recall"] == {"destroy": 1}
    hops = {(h["from"]["id"], h["to"]["id"]): h["units"] for h in trace["hops"]}
    assert hops == {(maker.id, dist.id): 10, (dist.id, shop.id): 3, (dist.id, web.id): 2}
    csv_text = client.get(f"/v1/recalls/{recall['id']}/holders.csv", headers=maker.headers).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {r["org_id"]: int(r["units"]) for r in rows if r["kind"] == "holding"} == holders
    regulator = make_org("regulator")
    assert client.get(f"/v1/recalls/{recall['id']}/trace", headers=regulator.headers).status_code == 200
    assert_problem(client.get(f"/v1/recalls/{recall['id']}/trace", headers=dist.headers), 403, "wrong_role")


def test_alerts_for_regulators_and_triage(client, maker, batch, issue, make_org):
    code = issue(batch["id"], 1)[0]["uri"]
    pharm = make_org("retailer", "drug_retail")
    assert_problem(post(client, pharm, {"action": "sell", "codes": [code], "channel": "offline"}), 409, "not_custodian")
    regulator = make_org("regulator")
    listed = client.get("/v1/alerts", headers=regulator.headers).json()["alerts"]
    assert [a["type"] for a in listed] == ["custody_violation"]
    alert = listed[0]
    assert alert["unit"] == {"gtin": GTIN, "serial": serial(code)} and alert["status"] == "open"
    assert "custodian" in alert["details"]["reason"]
    assert client.get("/v1/alerts", params={"type": "repeat_sale"}, headers=regulator.headers).json()["alerts"] == []
    assert [a["id"] for a in client.get("/v1/alerts", headers=maker.headers).json()["alerts"]] == [alert["id"]]
    assert_problem(client.get("/v1/alerts", headers=pharm.headers), 403, "wrong_role")
    assert_problem(
        client.patch(f"/v1/alerts/{alert['id']}", json={"status": "closed"}, headers=regulator.headers),
        422,
        "root_cause_required",
    )
    closed = client.patch(
        f"/v1/alerts/{alert['id']}",
        json={"status": "closed", "root_cause": "till misconfigured"},
        headers=regulator.headers,
    ).json()
    assert closed["status"] == "closed" and closed["root_cause"] == "till misconfigured"
    assert_problem(
        client.patch(f"/v1/alerts/{alert['id']}", json={"status": "open"}, headers=maker.headers), 403, "wrong_role"
    )
