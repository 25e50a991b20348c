"""Recall relay to online buyers (issue 20): the platform of every online sale a recall covers is sent a signed
``recall.orders`` webhook with its orders, acknowledges them per order, and the trace and the regulator page count
them; an extension relays only what it adds. On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.api.routes_pages import COOKIE
from app.db.models import RecallOrder, RecallOrderUnit, WebhookDelivery
from app.services import recall_relay, webhooks
from tests.helpers import GTIN, Org, assert_problem, ok, post, race, serial, settings_for


@pytest.fixture
def settings(database_url):
    # No background sender: the tests drive deliver_due themselves.
    return settings_for(database_url, webhook_interval_seconds=0)


@dataclass
class Sent:
    url: str
    body: bytes
    headers: dict[str, str]


def deliver(runtime: Any) -> list[Sent]:
    """Send every due delivery through a recording ``post``: what each endpoint was sent."""
    sent: list[Sent] = []

    def record(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        sent.append(Sent(url, body, dict(headers)))
        return 200

    now = datetime.now(UTC) + timedelta(seconds=1)
    webhooks.deliver_due(runtime.sessions, runtime.keyring.master_key, post=record, now=now)
    return sent


def signed_by(secret: str, sent: Sent) -> bool:
    timestamp = sent.headers["Passport-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + sent.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(sent.headers["Passport-Signature"], f"v1={expected}")


def register(client: Any, org: Org, url: str) -> str:
    response = client.post("/v1/webhooks", json={"url": url}, headers=org.headers)
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


def sell_online(client: Any, seller: Org, codes: list[str], platform: Org, order_ref: str) -> dict[str, Any]:
    body = {"action": "sell", "codes": codes, "channel": "online", "platform": platform.id, "order_ref": order_ref}
    return ok(post(client, seller, body))[0]


def ack(client: Any, org: Org, recall_id: int, refs: Any) -> Any:
    return client.post(f"/v1/recalls/{recall_id}/orders/ack", json={"order_refs": refs}, headers=org.headers)


def recall_lot(client: Any, org: Org, lots: list[str]) -> dict[str, Any]:
    body = {"gtin": GTIN, "lots": lots, "reason": "sterility", "class": "I"}
    response = client.post("/v1/recalls", json=body, headers=org.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def units_of(order: dict[str, Any]) -> list[str]:
    return sorted(u["serial"] for u in order["units"])


@dataclass
class Shop:
    maker: Org
    seller: Org
    market_a: Org
    market_b: Org
    codes: list[str]


@pytest.fixture
def shop(client, maker, batch, issue, make_org) -> Shop:
    """An online pharmacy holding ten units of LOT42, selling through two marketplaces."""
    codes = [c["uri"] for c in issue(batch["id"], 10)]
    seller = make_org("retailer", "drug_retail", "online_drug_sales")
    ok(post(client, maker, {"action": "ship", "codes": codes, "to": seller.id}))
    ok(post(client, seller, {"action": "receive", "codes": codes}))
    return Shop(maker, seller, make_org("platform", name="Market A"), make_org("platform", name="Market B"), codes)


def test_each_platform_gets_a_signed_webhook_of_its_own_orders_and_acknowledges_them(client, runtime, shop, make_org):
    s = shop
    sell_online(client, s.seller, s.codes[0:2], s.market_a, "A-1")  # one order, two units
    sell_online(client, s.seller, [s.codes[2]], s.market_a, "A-2")
    sell_online(client, s.seller, [s.codes[3]], s.market_b, "B-1")
    ok(post(client, s.seller, {"action": "sell", "codes": [s.codes[4]], "channel": "offline"}))  # a till: no order
    undone = sell_online(client, s.seller, [s.codes[5]], s.market_b, "B-undone")
    ok(post(client, s.seller, {"action": "undo", "event_id": undone["event_id"]}))  # the sale no longer stands
    sell_online(client, s.seller, [s.codes[6]], s.market_b, "B-returned")
    ok(post(client, s.seller, {"action": "return", "codes": [s.codes[6]]}))  # back on the shelf: the seller's notice
    secret_a = register(client, s.market_a, "https://market-a.example/hooks")
    secret_b = register(client, s.market_b, "https://market-b.example/hooks")

    recall = recall_lot(client, s.maker, ["LOT42"])

    sent = {m.url: m for m in deliver(runtime) if m.headers["Passport-Event"] == "recall.orders"}
    assert set(sent) == {"https://market-a.example/hooks", "https://market-b.example/hooks"}
    to_a, to_b = sent["https://market-a.example/hooks"], sent["https://market-b.example/hooks"]
    assert signed_by(secret_a, to_a) and signed_by(secret_b, to_b)
    assert not signed_by(secret_b, to_a) and not signed_by(secret_a, to_b)  # each signed with its own secret
    tampered = Sent(to_a.url, to_a.body.replace(b"A-2", b"A-3"), to_a.headers)
    assert tampered.body != to_a.body and not signed_by(secret_a, tampered)
    body_a, body_b = json.loads(to_a.body), json.loads(to_b.body)
    assert body_a["type"] == "recall.orders" and body_a["platform"] == s.market_a.id
    assert body_a["recall"]["id"] == recall["id"] and body_a["recall"]["lots"] == ["LOT42"]
    assert body_a["recall"]["class"] == "I" and body_a["recall"]["reason"] == "sterility"
    assert body_a["acknowledge"] == f"/v1/recalls/{recall['id']}/orders/ack"
    assert [(o["order_ref"], units_of(o)) for o in body_a["orders"]] == [
        ("A-1", sorted(serial(c) for c in s.codes[0:2])),
        ("A-2", [serial(s.codes[2])]),
    ]
    assert body_a["orders"][0]["units"][0] == {"gtin": GTIN, "lot": "LOT42", "serial": serial(s.codes[0])}
    assert body_a["orders"][0]["seller"] == s.seller.id and body_a["orders"][0]["sold_at"]
    # Market B sees only its standing order: not A's, not the undone sale, not the unit returned since.
    assert [(o["order_ref"], units_of(o)) for o in body_b["orders"]] == [("B-1", [serial(s.codes[3])])]
    assert b"A-1" not in to_b.body and b"B-1" not in to_a.body

    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=s.maker.headers).json()
    assert trace["online_orders"] == {"total": 3, "acknowledged": 0}
    assert [(p["platform"]["id"], p["total"], p["acknowledged"]) for p in trace["online_orders_by_platform"]] == [
        (s.market_a.id, 2, 0),
        (s.market_b.id, 1, 0),
    ]

    # Each platform reads its own orders (the inbox of one without an endpoint); a regulator reads them all.
    mine = client.get(f"/v1/recalls/{recall['id']}/orders", headers=s.market_b.headers).json()["orders"]
    assert [(o["order_ref"], o["platform"], o["acknowledged_at"], o["webhook"]) for o in mine] == [
        ("B-1", s.market_b.id, None, True)
    ]
    regulator = make_org("regulator")
    every = client.get(f"/v1/recalls/{recall['id']}/orders", headers=regulator.headers).json()["orders"]
    assert sorted(o["order_ref"] for o in every) == ["A-1", "A-2", "B-1"]
    for outsider in (s.maker, s.seller, make_org("platform")):
        assert client.get(f"/v1/recalls/{recall['id']}/orders", headers=outsider.headers).json()["orders"] == []

    # Acknowledging: own orders only (403, nothing recorded), known ones only (422), all or nothing.
    refused = assert_problem(ack(client, s.market_b, recall["id"], ["B-1", "A-1"]), 403, "foreign_order")
    assert refused["order_refs"] == ["A-1"]
    unknown = assert_problem(
        ack(client, s.market_a, recall["id"], ["A-1", "B-undone", "Z-9"]), 422, "unknown_order_ref"
    )
    assert unknown["order_refs"] == ["B-undone", "Z-9"]
    assert_problem(ack(client, s.seller, recall["id"], ["A-1"]), 403, "foreign_order")
    assert_problem(ack(client, regulator, recall["id"], ["A-1"]), 403, "foreign_order")
    assert client.get(f"/v1/recalls/{recall['id']}/trace", headers=s.maker.headers).json()["online_orders"] == {
        "total": 3,
        "acknowledged": 0,
    }
    first = ack(client, s.market_a, recall["id"], ["A-1"])
    assert first.status_code == 200, first.text
    assert [o["order_ref"] for o in first.json()["acknowledged"]] == ["A-1"]
    assert first.json()["online_orders"] == {"total": 2, "acknowledged": 1}  # the caller's own figures
    again = ack(client, s.market_a, recall["id"], ["A-2", "A-1", "A-1"]).json()
    at = {o["order_ref"]: o["acknowledged_at"] for o in again["acknowledged"]}
    assert at["A-1"] == first.json()["acknowledged"][0]["acknowledged_at"]  # the first acknowledgement stands
    assert at["A-2"] is not None and again["online_orders"] == {"total": 2, "acknowledged": 2}
    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=regulator.headers).json()
    assert trace["online_orders"] == {"total": 3, "acknowledged": 2}
    assert_problem(ack(client, s.market_a, 999999, ["A-1"]), 404, "recall_not_found")

    # The regulator's page, in both languages.
    page = client.get(
        f"/regulator/recalls/{recall['id']}?lang=en", headers={"Cookie": f"{COOKIE}={regulator.api_key}"}
    ).text
    assert 'data-figure="online_orders" data-total="3" data-acknowledged="2"' in page
    assert "Online orders relayed to platforms" in page and "3 notified, 2 acknowledged" in page
    row = re.search(r"<tr><td[^>]*>Market A</td>(.*?)</tr>", page)
    assert row is not None and re.findall(r'<td class="n"[^>]*>(\d+)</td>', row.group(1)) == ["3", "2", "2"]
    zh = client.get(
        f"/regulator/recalls/{recall['id']}?lang=zh", headers={"Cookie": f"{COOKIE}={regulator.api_key}"}
    ).text
    assert "经平台通知的网上订单" in zh and "已通知 3 单，已确认 2 单" in zh


def test_an_extension_relays_only_the_orders_and_units_it_adds(client, runtime, shop, maker, product, issue):
    s = shop
    response = client.post(
        "/v1/batches",
        json={"gtin": GTIN, "lot": "LOT43", "manufactured_on": "2026-01-01", "expires_on": "2030-01-01"},
        headers=maker.headers,
    )
    assert response.status_code == 201, response.text
    more = [c["uri"] for c in issue(response.json()["id"], 3)]
    ok(post(client, maker, {"action": "ship", "codes": more, "to": s.seller.id}))
    ok(post(client, s.seller, {"action": "receive", "codes": more}))
    sell_online(client, s.seller, [s.codes[0], more[0]], s.market_a, "A-mixed")  # one order across both lots
    sell_online(client, s.seller, [s.codes[1]], s.market_a, "A-old")
    sell_online(client, s.seller, [more[1]], s.market_b, "B-new")
    register(client, s.market_a, "https://market-a.example/hooks")

    recall = recall_lot(client, s.maker, ["LOT42"])
    [first] = [json.loads(m.body) for m in deliver(runtime) if m.headers["Passport-Event"] == "recall.orders"]
    assert [(o["order_ref"], units_of(o)) for o in first["orders"]] == [
        ("A-mixed", [serial(s.codes[0])]),
        ("A-old", [serial(s.codes[1])]),
    ]
    assert ack(client, s.market_a, recall["id"], ["A-mixed", "A-old"]).status_code == 200
    extended = client.post(f"/v1/recalls/{recall['id']}/extend", json={"lots": ["LOT43"]}, headers=maker.headers)
    assert extended.status_code == 200, extended.text

    [second] = [json.loads(m.body) for m in deliver(runtime) if m.headers["Passport-Event"] == "recall.orders"]
    # Only what the extension brought in: the order that gained a unit, with that unit alone; A-old is not resent.
    assert [(o["order_ref"], units_of(o)) for o in second["orders"]] == [("A-mixed", [serial(more[0])])]
    mine = {
        o["order_ref"]: o
        for o in client.get(f"/v1/recalls/{recall['id']}/orders", headers=s.market_a.headers).json()["orders"]
    }
    assert units_of(mine["A-mixed"]) == sorted([serial(s.codes[0]), serial(more[0])])
    assert mine["A-mixed"]["acknowledged_at"] is None  # its acknowledgement covered one unit of two
    assert mine["A-old"]["acknowledged_at"] is not None and mine["A-old"]["relayed_at"] == mine["A-old"]["notified_at"]
    relayed = datetime.fromisoformat(mine["A-mixed"]["relayed_at"])
    assert relayed > datetime.fromisoformat(mine["A-mixed"]["notified_at"])
    # Market B has no endpoint: its order is recorded all the same, for it to read and acknowledge.
    [b_order] = client.get(f"/v1/recalls/{recall['id']}/orders", headers=s.market_b.headers).json()["orders"]
    assert b_order["order_ref"] == "B-new" and b_order["webhook"] is False and units_of(b_order) == [serial(more[1])]
    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=maker.headers).json()
    assert trace["online_orders"] == {"total": 3, "acknowledged": 1}

    # Extending again with nothing new relays nothing.
    again = client.post(
        f"/v1/recalls/{recall['id']}/extend", json={"serials": [serial(more[2])]}, headers=maker.headers
    )
    assert again.status_code == 200, again.text
    assert [m for m in deliver(runtime) if m.headers["Passport-Event"] == "recall.orders"] == []
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecallOrder)) == 3
        assert session.scalar(select(func.count()).select_from(RecallOrderUnit)) == 4
        events = session.scalars(select(WebhookDelivery.event_type).order_by(WebhookDelivery.id)).all()
    assert events.count("recall.orders") == 2


def test_a_recall_of_serials_relays_only_those_units(client, runtime, shop):
    s = shop
    sell_online(client, s.seller, s.codes[0:3], s.market_a, "A-1")
    body = {"gtin": GTIN, "serials": [serial(s.codes[1])], "reason": "mislabelled", "class": "II"}
    recall = client.post("/v1/recalls", json=body, headers=s.maker.headers).json()
    [order] = client.get(f"/v1/recalls/{recall['id']}/orders", headers=s.market_a.headers).json()["orders"]
    assert order["order_ref"] == "A-1" and units_of(order) == [serial(s.codes[1])]
    untouched = recall_lot(client, s.maker, ["LOT42"])  # another recall relays on its own count
    [order] = client.get(f"/v1/recalls/{untouched['id']}/orders", headers=s.market_a.headers).json()["orders"]
    assert units_of(order) == sorted(serial(c) for c in s.codes[0:3])


_MALFORMED = {
    "no order_refs": {},
    "empty": {"order_refs": []},
    "not a list": {"order_refs": "A-1"},
    "empty reference": {"order_refs": [""]},
    "reference too long": {"order_refs": ["x" * 101]},
    "not a string": {"order_refs": [1]},
    "null": {"order_refs": [None]},
    "unknown field": {"order_refs": ["A-1"], "extra": True},
    "too many": {"order_refs": [f"A-{i}" for i in range(1001)]},
    "not an object": ["A-1"],
}


@pytest.mark.parametrize("body", list(_MALFORMED.values()), ids=list(_MALFORMED))
def test_malformed_acknowledgements_are_refused(client, shop, body):
    s = shop
    sell_online(client, s.seller, [s.codes[0]], s.market_a, "A-1")
    recall = recall_lot(client, s.maker, ["LOT42"])
    assert_problem(
        client.post(f"/v1/recalls/{recall['id']}/orders/ack", json=body, headers=s.market_a.headers),
        422,
        "validation_error",
    )
    refs = client.get(f"/v1/recalls/{recall['id']}/orders", headers=s.market_a.headers).json()["orders"]
    assert [o["acknowledged_at"] for o in refs] == [None]


def test_acknowledgements_need_a_key_a_json_body_and_a_real_recall(client, shop):
    s = shop
    sell_online(client, s.seller, [s.codes[0]], s.market_a, "A-1")
    recall = recall_lot(client, s.maker, ["LOT42"])
    path = f"/v1/recalls/{recall['id']}/orders/ack"
    assert client.post(path, json={"order_refs": ["A-1"]}).status_code == 401
    garbage = {**s.market_a.headers, "Authorization": "Bearer not-a-key"}
    assert client.post(path, json={"order_refs": ["A-1"]}, headers=garbage).status_code == 401
    not_json = client.post(
        path, content=b'{"order_refs": ["A-1"', headers={**s.market_a.headers, "Content-Type": "application/json"}
    )
    assert not_json.status_code in (400, 422), not_json.text
    form = client.post(
        path,
        content=b"order_refs=A-1",
        headers={**s.market_a.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415, form.text
    for bad in ("0", "-1", str(2**31), "abc"):
        response = client.post(
            f"/v1/recalls/{bad}/orders/ack", json={"order_refs": ["A-1"]}, headers=s.market_a.headers
        )
        assert response.status_code in (404, 422), (bad, response.text)
    assert_problem(client.get("/v1/recalls/999999/orders", headers=s.market_a.headers), 404, "recall_not_found")
    assert (
        client.get(f"/v1/recalls/{recall['id']}/orders", params={"limit": 0}, headers=s.market_a.headers).status_code
        == 422
    )
    assert (
        client.get(
            f"/v1/recalls/{recall['id']}/orders", params={"after": 2**31}, headers=s.market_a.headers
        ).status_code
        == 422
    )


def test_orders_are_read_a_page_at_a_time(client, shop, make_org):
    s = shop
    for i in range(5):
        sell_online(client, s.seller, [s.codes[i]], s.market_a, f"A-{i}")
    recall = recall_lot(client, s.maker, ["LOT42"])
    path = f"/v1/recalls/{recall['id']}/orders"
    seen: list[str] = []
    after = None
    while True:
        params: dict[str, int] = {"limit": 2} if after is None else {"limit": 2, "after": after}
        page = client.get(path, params=params, headers=s.market_a.headers).json()
        seen += [o["order_ref"] for o in page["orders"]]
        after = page["next_after"]
        if after is None:
            break
    assert sorted(seen) == [f"A-{i}" for i in range(5)] and len(seen) == 5


def test_concurrent_extensions_and_acknowledgements_relay_and_count_each_order_once(
    client, http, pool, runtime, shop, maker, issue, database_url
):
    s = shop
    lots = []
    for n in range(4):
        lot = f"X{n}"
        response = client.post(
            "/v1/batches",
            json={"gtin": GTIN, "lot": lot, "manufactured_on": "2026-01-01", "expires_on": "2030-01-01"},
            headers=maker.headers,
        )
        assert response.status_code == 201, response.text
        codes = [c["uri"] for c in issue(response.json()["id"], 2)]
        ok(post(client, maker, {"action": "ship", "codes": codes, "to": s.seller.id}))
        ok(post(client, s.seller, {"action": "receive", "codes": codes}))
        sell_online(client, s.seller, codes, s.market_a, "A-shared")  # one order across every lot
        sell_online(client, s.seller, [s.codes[n]], s.market_a, f"A-{n}")
        lots.append(lot)
    recall = recall_lot(client, s.maker, ["LOT42"])
    clients = [http() for _ in range(8)]
    extend: list[Callable[[], Any]] = [
        (lambda c=c, lot=lot: c.post(f"/v1/recalls/{recall['id']}/extend", json={"lots": [lot]}, headers=maker.headers))
        for c, lot in zip(clients, lots + lots, strict=True)
    ]
    assert {r.status_code for r in race(pool, extend)} == {200}
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecallOrder)) == 5  # A-0..A-3 and A-shared once
        assert session.scalar(select(func.count()).select_from(RecallOrderUnit)) == 4 + 8
    acks = [(lambda c=c: ack(c, s.market_a, recall["id"], ["A-shared", "A-0"])) for c in clients]
    answers = race(pool, acks)
    assert {r.status_code for r in answers} == {200}
    stamps = {tuple(sorted((o["order_ref"], o["acknowledged_at"]) for o in r.json()["acknowledged"])) for r in answers}
    assert len(stamps) == 1  # every caller reads the one acknowledgement that stands
    trace = client.get(f"/v1/recalls/{recall['id']}/trace", headers=maker.headers).json()
    assert trace["online_orders"] == {"total": 5, "acknowledged": 2}


def test_a_platform_with_many_orders_gets_them_in_several_deliveries(client, runtime, shop, monkeypatch):
    s = shop
    monkeypatch.setattr(recall_relay, "ORDERS_PER_DELIVERY", 2)
    for i in range(5):
        sell_online(client, s.seller, [s.codes[i]], s.market_a, f"A-{i}")
    register(client, s.market_a, "https://market-a.example/hooks")
    recall = recall_lot(client, s.maker, ["LOT42"])
    sent = [m for m in deliver(runtime) if m.headers["Passport-Event"] == "recall.orders"]
    bodies = [json.loads(m.body) for m in sent]
    assert sorted(len(b["orders"]) for b in bodies) == [1, 2, 2]
    listed = sorted(o["order_ref"] for b in bodies for o in b["orders"])
    assert listed == [f"A-{i}" for i in range(5)]  # every order in exactly one delivery
    with runtime.sessions() as session:
        delivery_of = dict(
            session.execute(
                select(RecallOrder.order_ref, RecallOrder.delivery_id).where(RecallOrder.recall_id == recall["id"])
            ).all()
        )
    by_delivery = {int(m.headers["Passport-Delivery"]): json.loads(m.body) for m in sent}
    for ref, delivery_id in delivery_of.items():
        assert ref in {o["order_ref"] for o in by_delivery[delivery_id]["orders"]}
