"""The per-lot counters behind recall traces equal a count from scratch after every step of a journey.

Issuance writes no counter (issued units are read from issuance.count). The recount here reads units, containers, containment and events and counts them again in Python, independently
of app/db/lot_counters.py: custody (packed units through their outermost container), units per container subtree,
standing sales (distinct units per action, channel, platform), and units shipped, returned, destroyed or recycled
(per event, loose or inside the container the event named at that moment, replayed from the containment
intervals). The migration's backfill must give the same counters and recall baselines, and the trace of lot and
serial recalls must agree with the recount.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.db.models import (
    Recall,
    Unit,
)
from tests.helpers import GTIN, assert_counted, assert_problem, counters, ok, post, poster, race, recount, serial, sscc

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "20261123_0007_lot_counters.py"


def backfill(conn) -> None:
    spec = importlib.util.spec_from_file_location("migration_0007", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.backfill(conn)


# ------------------------------------------------------------------------------------------------- the journey


@pytest.fixture
def cast(make_org):
    return {
        "dist": make_org("distributor", "drug_wholesale"),
        "pharm": make_org("retailer", "drug_retail"),
        "online": make_org("retailer", "drug_retail", "online_drug_sales"),
        "market": make_org("platform"),
        "market_2": make_org("platform"),
        "recycler": make_org("distributor"),
        "regulator": make_org("regulator"),
    }


def test_counters_follow_a_journey_and_equal_a_recount(client, runtime, maker, batch, issue, cast):
    dist, pharm, online = cast["dist"], cast["pharm"], cast["online"]
    lot_43 = client.post(
        "/v1/batches",
        json={
            "gtin": GTIN,
            "lot": "LOT43",
            "manufactured_on": (date.today() - timedelta(days=5)).isoformat(),
            "expires_on": (date.today() + timedelta(days=500)).isoformat(),
        },
        headers=maker.headers,
    ).json()
    a = [c["uri"] for c in issue(batch["id"], 30)]
    b = [c["uri"] for c in issue(lot_43["id"], 20)]
    kept = assert_counted(runtime, "issuance")
    assert kept["custody"] == {(batch["id"], "issued", maker.id, ""): 30, (lot_43["id"], "issued", maker.id, ""): 20}

    case_1, case_2, case_3, case_4, pallet, pallet_2 = (sscc(n) for n in range(1, 7))
    ok(post(client, maker, {"action": "pack", "codes": [*a[0:10], *b[0:5]], "container": case_1}))  # two lots
    ok(post(client, maker, {"action": "pack", "codes": a[10:20], "container": case_2}))
    ok(post(client, maker, {"action": "pack", "codes": b[5:15], "container": case_3}))
    ok(post(client, maker, {"action": "pack", "codes": [case_1, case_2, case_3], "container": pallet}))
    assert_counted(runtime, "packing cases onto a pallet")

    ok(post(client, maker, {"action": "ship", "codes": [pallet, *a[20:25]], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [pallet, *a[20:25]]}))
    assert_counted(runtime, "a pallet hop")

    ok(post(client, dist, {"action": "ship", "codes": [a[0], case_2], "to": pharm.id}))  # out of the pallet
    ok(post(client, pharm, {"action": "receive", "codes": [a[0], case_2]}))
    ok(post(client, pharm, {"action": "unpack", "codes": [case_2]}))
    assert_counted(runtime, "a unit and a case taken off the pallet, the case unpacked")

    ok(post(client, pharm, {"action": "sell", "codes": [a[0]], "channel": "offline"}))
    sale = ok(post(client, pharm, {"action": "sell", "codes": [a[10]], "channel": "offline"}))[0]["event_id"]
    ok(post(client, pharm, {"action": "undo", "event_id": sale}))
    ok(post(client, pharm, {"action": "ship", "codes": a[11:13], "to": online.id}))
    ok(post(client, online, {"action": "receive", "codes": a[11:13]}))
    for uri, platform, ref in ((a[11], cast["market"], "W-1"), (a[12], cast["market_2"], "W-2")):
        ok(
            post(
                client,
                online,
                {"action": "sell", "codes": [uri], "channel": "online", "platform": platform.id, "order_ref": ref},
            )
        )
    assert_counted(runtime, "sales offline and online, one undone")

    # Sold, returned, passed on and sold again the same way: one unit with a standing offline sale, not two.
    ok(post(client, pharm, {"action": "sell", "codes": [a[13]], "channel": "offline"}))
    ok(post(client, pharm, {"action": "return", "codes": [a[13]]}))
    ok(post(client, pharm, {"action": "ship", "codes": [a[13]], "to": online.id}))
    ok(post(client, online, {"action": "receive", "codes": [a[13]]}))
    ok(post(client, online, {"action": "sell", "codes": [a[13]], "channel": "offline"}))
    # A split pack dispensed in parts is one dispensed unit; undoing one part leaves it dispensed.
    ok(post(client, pharm, {"action": "open", "codes": [a[14]]}))
    parts = [ok(post(client, pharm, {"action": "dispense", "codes": [a[14]]}))[0]["event_id"] for _ in range(3)]
    ok(post(client, pharm, {"action": "undo", "event_id": parts[1]}))
    kept = assert_counted(runtime, "a resale after a return, a split pack")
    assert kept["sales"][(batch["id"], "sell", "offline", "")] == 2  # a[0] and a[13]
    assert kept["sales"][(batch["id"], "dispense", "offline", "")] == 1

    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=maker.headers,
    ).json()
    serial_recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "serials": [serial(b[0]), serial(b[7]), serial(b[16])], "reason": "label", "class": "II"},
        headers=maker.headers,
    ).json()

    ok(post(client, dist, {"action": "destroy", "codes": [case_1]}))  # out of the pallet and destroyed, 2 lots
    ok(post(client, cast["recycler"], {"action": "recycle", "codes": [a[0]]}))  # a consumer's unit
    ok(post(client, online, {"action": "return", "codes": [a[11]]}))
    assert_counted(runtime, "recovery after the recall")

    lock = ok(post(client, dist, {"action": "lock", "codes": [pallet]}))[0]["event_id"]
    assert_counted(runtime, "a pallet locked")
    ok(post(client, dist, {"action": "undo", "event_id": lock}))
    ok(post(client, dist, {"action": "lock", "codes": [a[20]]}))
    ok(post(client, dist, {"action": "unlock", "codes": [a[20]]}))
    export = ok(post(client, dist, {"action": "export", "codes": [a[21]]}))[0]["event_id"]
    ok(post(client, dist, {"action": "undo", "event_id": export}))
    ok(post(client, dist, {"action": "report_stolen", "codes": [a[22]]}))
    kept = assert_counted(runtime, "locks, an undone export, a theft")

    refused = post(  # all or nothing: the third event is refused (a wholesaler may not sell)
        client,
        dist,
        {
            "events": [
                {"action": "ship", "codes": [a[23]], "to": pharm.id},
                {"action": "pack", "codes": [a[24]], "container": sscc(7)},
                {"action": "sell", "codes": [a[20]], "channel": "offline"},
            ]
        },
    )
    assert refused.status_code in (403, 409), refused.text
    assert assert_counted(runtime, "an atomic list rolled back") == kept
    results = ok(
        post(
            client,
            dist,
            {
                "atomic": False,
                "events": [
                    {"action": "ship", "codes": [a[23]], "to": pharm.id},
                    {"action": "ship", "codes": [a[22]], "to": pharm.id},  # stolen: rejected
                    {"action": "pack", "codes": [a[24], case_3], "container": sscc(7)},
                ],
            },
        )
    )
    assert [r["status"] for r in results] == ["accepted", "rejected", "accepted"]
    assert_counted(runtime, "a non-atomic list with a rejection")

    # Issued units packed into a case are held through it; a pallet of it unpacked hands its custody down.
    ok(post(client, maker, {"action": "pack", "codes": b[15:20], "container": case_4}))
    ok(post(client, maker, {"action": "pack", "codes": [case_4, a[25]], "container": pallet_2}))
    ok(post(client, maker, {"action": "pack", "codes": [a[26]], "container": case_4}))  # into a nested case
    ok(post(client, maker, {"action": "ship", "codes": [pallet_2], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": [pallet_2]}))
    ok(post(client, dist, {"action": "pack", "codes": [b[16]], "container": sscc(7)}))  # from one case to another
    ok(post(client, dist, {"action": "unpack", "codes": [pallet_2]}))
    ok(post(client, dist, {"action": "ship", "codes": [case_4, sscc(7)], "to": pharm.id}))
    again = {"action": "receive", "codes": [case_4], "idempotency_key": "dock-1"}
    ok(post(client, pharm, again))
    assert ok(post(client, pharm, again))[0]["status"] == "duplicate"
    assert_problem(post(client, dist, {"action": "receive", "codes": [sscc(7)]}), 409, "not_addressed_to_you")
    kept = assert_counted(runtime, "nested packing, repacking, an unpacked pallet")

    # The traces: the lot recall from the counters, the serial recall unit by unit; both as the recount says.
    with runtime.engine.connect() as conn:
        created = conn.execute(select(Recall.created_at).where(Recall.id == recall["id"])).scalar_one()
        lot_ids = {u for (u,) in conn.execute(select(Unit.id).where(Unit.batch_id == batch["id"]))}
        listed = {serial(b[0]), serial(b[7]), serial(b[16])}
        serial_ids = {u for (u,) in conn.execute(select(Unit.id).where(Unit.serial.in_(listed)))}
        expected = {
            recall["id"]: recount(conn, lot_ids, since=created),
            serial_recall["id"]: recount(conn, serial_ids, since=created),
        }
    for recall_id, want in expected.items():
        trace = client.get(f"/v1/recalls/{recall_id}/trace", headers=cast["regulator"].headers).json()
        assert trace["units_total"] == sum(want["custody"].values())
        assert all(trace["by_state"].values()) and all(h["units"] for h in trace["holders"]), trace
        holders: Counter = Counter()
        transit: Counter = Counter()
        for (_, state, holder, to), n in want["custody"].items():
            if state in ("issued", "held", "open", "locked", "returned"):
                holders[holder] += n
            elif state == "in_transit":
                transit[(holder, to)] += n
        assert {h["org"]["id"]: h["units"] for h in trace["holders"]} == holders
        assert {(t["from"]["id"], t["to"]["id"]): t["units"] for t in trace["in_transit"]} == transit
        hops: Counter = Counter()
        for (_, from_id, to_id), n in want["hops"].items():
            hops[(from_id, to_id)] += n
        assert {(h["from"]["id"], h["to"]["id"]): h["units"] for h in trace["hops"]} == hops
        recovered: Counter = Counter()
        for (_, action), n in want["recovery"].items():
            recovered[action] += n
        assert trace["recovered_since_recall"] == recovered
        sold: Counter = Counter()
        for (_, action, channel, _), n in want["sales"].items():
            sold["dispensed" if action == "dispense" else channel] += n
        assert {k: trace["sold"][k] for k in ("offline", "online", "dispensed")} == {
            k: sold[k] for k in ("offline", "online", "dispensed")
        }
    lot_trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=maker.headers).json()
    assert lot_trace["recovered_since_recall"] == {"destroy": 9, "recycle": 1, "return": 1}
    assert lot_trace["units_total"] == 30

    # The migration's backfill counts the same, and finds the same recall baselines.
    with runtime.engine.connect() as conn:
        baselines = dict(conn.execute(select(Recall.id, Recall.recovery_baseline)).all())
    with runtime.engine.begin() as conn:
        backfill(conn)
    with runtime.engine.connect() as conn:
        assert counters(conn) == kept
        assert dict(conn.execute(select(Recall.id, Recall.recovery_baseline)).all()) == baselines
    assert baselines[recall["id"]] == {str(batch["id"]): {"return": 1}}  # a[13], before the recall
    assert baselines[serial_recall["id"]] == {}


def test_extending_a_recall_counts_a_new_lot_from_then_on(client, runtime, maker, batch, issue, cast):
    codes = [c["uri"] for c in issue(batch["id"], 3)]
    other = client.post(
        "/v1/batches",
        json={"gtin": GTIN, "lot": "LOT9", "manufactured_on": "2026-01-01", "expires_on": "2029-01-01"},
        headers=maker.headers,
    ).json()
    more = [c["uri"] for c in issue(other["id"], 2)]
    recall = client.post(
        "/v1/recalls", json={"gtin": GTIN, "lots": ["LOT42"], "reason": "r", "class": "II"}, headers=maker.headers
    ).json()
    ok(post(client, maker, {"action": "destroy", "codes": [codes[0], more[0]]}))
    extended = client.post(f"/v1/recalls/{recall['id']}/extend", json={"lots": ["LOT9"]}, headers=maker.headers)
    assert extended.status_code == 200, extended.text
    ok(post(client, maker, {"action": "destroy", "codes": [more[1]]}))
    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=maker.headers).json()
    assert trace["units_total"] == 5 and trace["by_state"] == {"destroyed": 3, "issued": 2}
    assert trace["recovered_since_recall"] == {"destroy": 2}  # more[0] went before LOT9 was recalled
    ok(post(client, maker, {"action": "destroy", "codes": codes[1:]}))  # none issued any more: no zero rows
    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=maker.headers).json()
    assert trace["by_state"] == {"destroyed": 5} and trace["holders"] == []
    whole = client.post("/v1/recalls", json={"gtin": GTIN, "reason": "all", "class": "III"}, headers=maker.headers)
    trace = client.get(f"/v1/recalls/{whole.json()['id']}/trace", headers=maker.headers).json()
    assert trace["units_total"] == 5 and trace["recovered_since_recall"] == {}
    assert trace["by_state"] == {"destroyed": 5}
    assert_counted(runtime, "destroys around a recall's extension")


@pytest.mark.postgres_only
def test_concurrent_hops_of_one_lot_do_not_deadlock(client, runtime, maker, batch, issue, make_org, http, pool):
    """Two pallets and loose units of one lot moving at the same instant touch the same counter rows."""
    # Always onward to a new wholesaler: goods coming back to an earlier holder would be returns, which must be
    # verified first (tests/api/test_partner_verification.py); this test is about the counters' locks.
    chain = [make_org("distributor", "drug_wholesale") for _ in range(6)]
    codes = [c["uri"] for c in issue(batch["id"], 40)]
    pallets = [sscc(11), sscc(12)]
    ok(post(client, maker, {"action": "pack", "codes": codes[:15], "container": pallets[0]}))
    ok(post(client, maker, {"action": "pack", "codes": codes[15:30], "container": pallets[1]}))
    loose = codes[30:]
    clients = [http() for _ in range(3)]
    holder = maker
    for round_no, to in enumerate(chain):
        ships = [{"action": "ship", "codes": [p], "to": to.id} for p in pallets]
        ships.append({"action": "ship", "codes": loose[::-1] if round_no % 2 else loose, "to": to.id})
        responses = race(pool, [poster(clients[i], holder, ships[i]) for i in range(3)])
        assert [r.status_code for r in responses] == [201] * 3, [r.text for r in responses]
        receipts = [{"action": "receive", "codes": [p]} for p in pallets] + [{"action": "receive", "codes": loose}]
        responses = race(pool, [poster(clients[i], to, receipts[i]) for i in range(3)])
        assert [r.status_code for r in responses] == [201] * 3, [r.text for r in responses]
        holder = to
    kept = assert_counted(runtime, "concurrent hops")
    assert sum(n for (b, *_), n in kept["hops"].items() if b == batch["id"]) == 6 * 40
