"""Recall notices: every holder is notified, endpoints get signed webhooks retried with back-off, holders acknowledge."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import RecallNotice, WebhookDelivery, WebhookEndpoint
from app.main import create_app
from app.services import webhook_http, webhooks
from app.services.runtime import Runtime
from tests.helpers import GTIN, assert_problem, ok, post, serial, settings_for


@pytest.fixture
def settings(database_url):
    # No background sender: the tests drive deliver_due with a clock of their own.
    return settings_for(database_url, webhook_interval_seconds=0)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP endpoint on loopback that answers the statuses it is given in turn, then 200."""

    url: str
    statuses: list[int]
    requests: list[Received] = field(default_factory=list)
    connections: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append(Received(dict(self.headers.items()), body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def verify_request(self, request, client_address) -> bool:
            state.connections += 1
            return True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/passport"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def verify_signature(secret: str, request: Received) -> bool:
    timestamp = request.headers["Passport-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["Passport-Signature"], f"v1={expected}")


def register(client, org, url: str) -> dict:
    response = client.post("/v1/webhooks", json={"url": url}, headers=org.headers)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client, org) -> list[dict]:
    response = client.get("/v1/webhooks/deliveries", headers=org.headers)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def deliver(runtime, now: datetime, **kwargs) -> dict[str, int]:
    kwargs.setdefault("allow_private", runtime.settings.webhook_private_addresses)  # as the service does
    return webhooks.deliver_due(runtime.sessions, runtime.keyring.master_key, now=now, **kwargs)


def test_every_holder_is_notified_and_the_endpoint_gets_a_signed_retried_webhook(
    client, runtime, maker, batch, issue, make_org, receiver
):
    codes = [c["uri"] for c in issue(batch["id"], 7)]
    dist = make_org("distributor", "drug_wholesale")
    shop = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": codes[:3], "to": dist.id}))
    ok(post(client, dist, {"action": "receive", "codes": codes[:3]}))
    ok(post(client, maker, {"action": "ship", "codes": codes[3:6], "to": shop.id}))
    ok(post(client, shop, {"action": "receive", "codes": codes[3:5]}))  # codes[5] still on its way to the shop
    ok(post(client, shop, {"action": "sell", "codes": [codes[3]], "channel": "offline"}))  # sold: not held
    registered = register(client, dist, receiver.url)
    assert registered["url"] == receiver.url and registered["secret"].startswith("whsec_")
    assert client.get("/v1/webhooks", headers=dist.headers).json()["endpoint"] == {
        "id": registered["id"],
        "url": receiver.url,
        "created_at": registered["created_at"],
    }  # the secret is shown once

    recall = client.post(
        "/v1/recalls",
        json={
            "gtin": GTIN,
            "lots": ["LOT42"],
            "reason": "sterility",
            "class": "I",
            "instructions": "Quarantine and return.",
        },
        headers=maker.headers,
    ).json()

    notices = client.get(f"/v1/recalls/{recall['id']}/notices", headers=maker.headers).json()
    by_org = {n["org"]["id"]: n for n in notices["notices"]}
    # The maker opened the recall (and still holds one unit): it is not notified of its own recall.
    assert set(by_org) == {dist.id, shop.id}
    assert by_org[dist.id]["units"] == 3 and by_org[shop.id]["units"] == 2  # one held, one in transit
    assert by_org[dist.id]["webhook"] == {"status": "pending", "attempts": 0, "delivered_at": None}
    assert by_org[shop.id]["webhook"] is None and notices["acknowledged"] == 0
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        assert session.scalar(select(func.count()).select_from(RecallNotice)) == 2

    # First attempt: the endpoint answers 500, the delivery waits for its back-off.
    receiver.statuses = [500]
    t0 = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)  # whole seconds, as the header
    assert deliver(runtime, t0) == {"delivered": 0, "retrying": 1, "failed": 0}
    [logged] = deliveries(client, dist)
    assert logged["status"] == "pending" and logged["attempts"] == 1
    assert logged["last_status_code"] == 500 and logged["last_error"] == "HTTP 500"
    retry_at = datetime.fromisoformat(logged["next_attempt_at"])
    assert t0 + timedelta(seconds=60) <= retry_at <= t0 + timedelta(seconds=66)
    assert deliver(runtime, t0 + timedelta(seconds=59)) == {"delivered": 0, "retrying": 0, "failed": 0}

    # Once the back-off has passed the second attempt is accepted.
    t1 = t0 + timedelta(minutes=2)
    assert deliver(runtime, t1) == {"delivered": 1, "retrying": 0, "failed": 0}
    [logged] = deliveries(client, dist)
    assert logged["status"] == "delivered" and logged["attempts"] == 2 and logged["last_status_code"] == 200
    assert logged["last_error"] is None and datetime.fromisoformat(logged["delivered_at"]) == t1
    assert deliver(runtime, t1 + timedelta(days=1)) == {"delivered": 0, "retrying": 0, "failed": 0}
    assert deliveries(client, shop) == []

    first, second = receiver.requests
    for request, at in ((first, t0), (second, t1)):
        assert request.headers["Passport-Event"] == "recall.created"
        assert request.headers["Passport-Delivery"] == str(logged["id"])
        assert request.headers["Content-Type"] == "application/json"
        assert int(request.headers["Passport-Timestamp"]) == int(at.timestamp())
        assert verify_signature(registered["secret"], request)
    assert first.body == second.body  # same delivery, same body; only the timestamp and signature differ
    assert first.headers["Passport-Signature"] != second.headers["Passport-Signature"]
    payload = json.loads(second.body)
    assert payload["event"] == "recall.created" and payload["org"] == dist.id
    assert payload["units"] == 3 and payload["units_in_transit_to_you"] == 0
    assert payload["recall"] == {
        "id": recall["id"],
        "gtin": GTIN,
        "product": "Paracetamol 500 mg",
        "lots": ["LOT42"],
        "serials": [],
        "class": "I",
        "reason": "sterility",
        "instructions": "Quarantine and return.",
        "created_at": recall["created_at"],
    }
    assert payload["acknowledge"] == f"/v1/recalls/{recall['id']}/acknowledge"

    # A tampered body, a replayed signature under another timestamp, or the wrong secret do not verify.
    tampered = Received(second.headers, second.body.replace(b'"units":3', b'"units":0'))
    assert tampered.body != second.body and not verify_signature(registered["secret"], tampered)
    replayed = Received({**second.headers, "Passport-Timestamp": str(int(t1.timestamp()) + 600)}, second.body)
    assert not verify_signature(registered["secret"], replayed)
    assert not verify_signature(registered["secret"] + "x", second)

    # Holders acknowledge; only notified organisations can.
    acked = client.post(f"/v1/recalls/{recall['id']}/acknowledge", headers=dist.headers)
    assert acked.status_code == 200, acked.text
    assert acked.json()["recall_id"] == recall["id"]
    again = client.post(f"/v1/recalls/{recall['id']}/acknowledge", headers=dist.headers).json()
    assert again["acknowledged_at"] == acked.json()["acknowledged_at"]  # the first acknowledgement stands
    outsider = make_org("retailer", "drug_retail")
    assert_problem(
        client.post(f"/v1/recalls/{recall['id']}/acknowledge", headers=outsider.headers), 404, "not_notified"
    )
    assert_problem(client.post(f"/v1/recalls/{recall['id']}/acknowledge", headers=maker.headers), 404, "not_notified")
    assert_problem(client.post("/v1/recalls/999999/acknowledge", headers=dist.headers), 404, "recall_not_found")

    # The shop has no endpoint: it reads its notices and acknowledges through the API.
    [inbox] = client.get("/v1/notices", headers=shop.headers).json()["notices"]
    assert inbox["recall"]["id"] == recall["id"] and inbox["units"] == 2 and inbox["acknowledged_at"] is None
    assert client.get("/v1/notices", headers=outsider.headers).json()["notices"] == []

    notices = client.get(f"/v1/recalls/{recall['id']}/notices", headers=make_org("regulator").headers).json()
    by_org = {n["org"]["id"]: n for n in notices["notices"]}
    assert notices["notified"] == 2 and notices["acknowledged"] == 1
    assert by_org[dist.id]["acknowledged_at"] == acked.json()["acknowledged_at"]
    assert by_org[dist.id]["webhook"]["status"] == "delivered" and by_org[shop.id]["acknowledged_at"] is None
    assert_problem(client.get(f"/v1/recalls/{recall['id']}/notices", headers=dist.headers), 403, "wrong_role")


def test_endpoint_urls_are_validated_and_registering_again_replaces(client, make_org):
    org = make_org("distributor", "drug_wholesale")
    for url in ("ftp://example.com/h", "example.com/h", "https://", "https://u:pw@example.com/h", "http://x:99999/"):
        assert_problem(client.post("/v1/webhooks", json={"url": url}, headers=org.headers), 422, "invalid_webhook_url")
    assert_problem(client.post("/v1/webhooks", json={"url": ""}, headers=org.headers), 422, "validation_error")
    assert client.post("/v1/webhooks", json={"url": "https://example.com/h"}).status_code == 401
    assert client.get("/v1/webhooks", headers=org.headers).json() == {"endpoint": None}
    first = register(client, org, "https://example.com/one")
    second = register(client, org, "https://example.com/two")
    assert second["secret"] != first["secret"] and second["id"] != first["id"]
    assert client.get("/v1/webhooks", headers=org.headers).json()["endpoint"]["url"] == "https://example.com/two"
    assert client.delete("/v1/webhooks", headers=org.headers).status_code == 204
    assert client.get("/v1/webhooks", headers=org.headers).json() == {"endpoint": None}
    assert_problem(client.delete("/v1/webhooks", headers=org.headers), 404, "webhook_not_found")


def test_extension_notifies_only_holders_not_told_before(client, runtime, maker, batch, issue, make_org):
    codes = [c["uri"] for c in issue(batch["id"], 3)]
    dist = make_org("distributor", "drug_wholesale")
    shop = make_org("retailer", "drug_retail")
    ok(post(client, maker, {"action": "ship", "codes": [codes[0]], "to": dist.id}))
    ok(post(client, maker, {"action": "ship", "codes": codes[1:], "to": shop.id}))
    ok(post(client, dist, {"action": "receive", "codes": [codes[0]]}))
    ok(post(client, shop, {"action": "receive", "codes": codes[1:]}))
    register(client, dist, "https://dist.example/hook")
    register(client, shop, "https://shop.example/hook")
    regulator = make_org("regulator")
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "serials": [serial(codes[0])], "reason": "mislabelled", "class": "II"},
        headers=regulator.headers,
    ).json()
    extend = {"serials": [serial(codes[0]), serial(codes[1])]}
    assert client.post(f"/v1/recalls/{recall['id']}/extend", json=extend, headers=maker.headers).status_code == 200
    extend = {"serials": [serial(codes[2])]}
    assert client.post(f"/v1/recalls/{recall['id']}/extend", json=extend, headers=maker.headers).status_code == 200
    with runtime.sessions() as session:
        rows = session.execute(
            select(RecallNotice.org_id, RecallNotice.units, WebhookDelivery.event_type).join(
                WebhookDelivery, WebhookDelivery.id == RecallNotice.delivery_id
            )
        ).all()
    # The shop was brought in by the first extension (one unit then) and not notified again by the second.
    assert sorted(rows) == sorted([(dist.id, 1, "recall.created"), (shop.id, 1, "recall.extended")])


def test_a_regulators_recall_notifies_the_manufacturer_holding_units(client, maker, batch, issue, make_org):
    issue(batch["id"], 2)
    recall = client.post(
        "/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "sterility", "class": "I"},
        headers=make_org("regulator").headers,
    ).json()
    [notice] = client.get("/v1/notices", headers=maker.headers).json()["notices"]
    assert notice["recall"]["id"] == recall["id"] and notice["units"] == 2


def test_deliveries_back_off_follow_a_new_endpoint_and_give_up(client, runtime, maker, batch, issue, make_org):
    code = issue(batch["id"], 1)[0]["uri"]
    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": dist.id}))
    old = register(client, dist, "https://old.example/hook")
    client.post(
        "/v1/recalls", json={"gtin": GTIN, "lots": ["LOT42"], "reason": "r", "class": "III"}, headers=maker.headers
    )
    sent: list[tuple[str, dict]] = []

    def refuse(url, body, headers):
        sent.append((url, dict(headers)))
        raise ConnectionRefusedError("connection refused")

    now = datetime.now(UTC)
    assert deliver(runtime, now, post=refuse) == {"delivered": 0, "retrying": 1, "failed": 0}
    [logged] = deliveries(client, dist)
    assert logged["last_error"] == "ConnectionRefusedError: connection refused" and logged["last_status_code"] is None
    waits = [datetime.fromisoformat(logged["next_attempt_at"]) - now]

    new = register(client, dist, "https://new.example/hook")  # what is owed follows the organisation's endpoint
    for _ in range(7):
        now = datetime.fromisoformat(deliveries(client, dist)[0]["next_attempt_at"])
        outcome = deliver(runtime, now, post=refuse)
        logged = deliveries(client, dist)[0]
        if logged["status"] == "pending":
            waits.append(datetime.fromisoformat(logged["next_attempt_at"]) - now)
    assert outcome == {"delivered": 0, "retrying": 0, "failed": 1}
    assert logged["status"] == "failed" and logged["attempts"] == webhooks.MAX_ATTEMPTS
    assert logged["next_attempt_at"] is None and logged["url"] == "https://new.example/hook"
    assert [url for url, _ in sent] == ["https://old.example/hook"] + ["https://new.example/hook"] * 7
    body = json.dumps(logged["payload"], ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    for (_url, headers), secret in zip(sent, [old["secret"]] + [new["secret"]] * 7, strict=True):
        assert verify_signature(secret, Received(headers, body))
    # Doubling from a minute, with at most 10 % jitter.
    for n, wait in enumerate(waits, start=1):
        assert timedelta(seconds=30 * 2**n) <= wait <= timedelta(seconds=33 * 2**n)
    assert deliver(runtime, now + timedelta(days=1), post=refuse)["failed"] == 0  # given up: never sent again


def test_cli_delivers_due_webhooks(
    client, runtime, settings, maker, batch, issue, make_org, receiver, capsys, monkeypatch
):
    from app.cli import main

    code = issue(batch["id"], 1)[0]["uri"]
    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": dist.id}))
    register(client, dist, receiver.url)
    client.post(
        "/v1/recalls", json={"gtin": GTIN, "lots": ["LOT42"], "reason": "r", "class": "II"}, headers=maker.headers
    )
    for name, value in (
        ("DATABASE_URL", settings.database_url),
        ("MASTER_KEY", settings.master_key),
        ("WEBHOOK_PRIVATE_ADDRESSES", "true"),
    ):
        monkeypatch.setenv(f"PASSPORT_{name}", value)
    assert main(["webhooks", "deliver"]) == 0
    assert json.loads(capsys.readouterr().out) == {"delivered": 1, "retrying": 0, "failed": 0}
    assert len(receiver.requests) == 1


def test_concurrent_senders_send_each_delivery_once(client, runtime, maker, batch, issue, make_org):
    codes = [c["uri"] for c in issue(batch["id"], 6)]
    for code in codes:
        holder = make_org("distributor", "drug_wholesale")
        ok(post(client, maker, {"action": "ship", "codes": [code], "to": holder.id}))
        register(client, holder, f"https://{holder.id}.example/hook")
    client.post(
        "/v1/recalls", json={"gtin": GTIN, "lots": ["LOT42"], "reason": "r", "class": "I"}, headers=maker.headers
    )
    sent: list[str] = []
    lock = threading.Lock()

    def slow(url, body, headers):
        time.sleep(0.05)
        with lock:
            sent.append(headers["Passport-Delivery"])
        return 204

    now = datetime.now(UTC) + timedelta(seconds=1)
    results: list[dict[str, int]] = []
    workers = [threading.Thread(target=lambda: results.append(deliver(runtime, now, post=slow))) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(sent) == sorted(set(sent)) and len(sent) == 6
    assert sum(r["delivered"] for r in results) == 6


def test_the_running_service_sends_due_deliveries_itself(database_url, client, maker, batch, issue, make_org, receiver):
    code = issue(batch["id"], 1)[0]["uri"]
    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": dist.id}))
    register(client, dist, receiver.url)
    client.post(
        "/v1/recalls", json={"gtin": GTIN, "lots": ["LOT42"], "reason": "r", "class": "II"}, headers=maker.headers
    )
    with TestClient(create_app(settings_for(database_url, webhook_interval_seconds=1))):
        deadline = time.monotonic() + 15
        while not receiver.requests:
            assert time.monotonic() < deadline, "the scheduled sender never ran"
            time.sleep(0.1)
    [logged] = deliveries(client, dist)
    assert logged["status"] == "delivered"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost:6379/",
        "https://api.localhost/hook",
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://[::1]:5432/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        # loopback in numeric disguise, read as the system reads it (inet_aton)
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://0/",
        "http://127.0.0.1./hook",
        "http://0xa9.0xfe.0xa9.0xfe/latest/meta-data/",
        # IPv6 addresses that carry a private IPv4 address, or that Python 3.11's is_global calls public
        "http://[64:ff9b::7f00:1]/hook",  # NAT64
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
        "http://[2002:7f00:1::]/hook",  # 6to4
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[2001::1]/hook",  # Teredo
    ],
)
def test_endpoints_on_the_services_own_network_are_refused(settings, make_org, url):
    """Server-side request forgery: a webhook URL must not make the service POST into its own network."""
    guarded = settings.model_copy(update={"webhook_private_addresses": False})
    with closing(Runtime.start(guarded)) as runtime, TestClient(create_app(guarded, runtime)) as client:
        org = make_org("distributor", "drug_wholesale")
        refused = client.post("/v1/webhooks", json={"url": url}, headers=org.headers)
        body = assert_problem(refused, 422, "invalid_webhook_url")
        assert "public host" in body["detail"]
        assert client.get("/v1/webhooks", headers=org.headers).json()["endpoint"] is None
        assert (
            register(client, org, "https://hooks.example.com/passport")["url"] == "https://hooks.example.com/passport"
        )


def test_delivery_refuses_an_address_that_is_not_public_and_sends_nothing(
    client, runtime, maker, batch, issue, make_org, receiver
):
    """An endpoint registered while private addresses were allowed, or a name that resolves to one: the address
    the connection reached is checked before a byte is sent, and the attempt fails saying why."""
    code = issue(batch["id"], 1)[0]["uri"]
    dist = make_org("distributor", "drug_wholesale")
    ok(post(client, maker, {"action": "ship", "codes": [code], "to": dist.id}))
    port = receiver.url.split(":")[2].split("/")[0]
    register(client, dist, f"http://localhost:{port}/hooks/passport")  # a name, resolved at delivery
    client.post(
        "/v1/recalls", json={"gtin": GTIN, "lots": ["LOT42"], "reason": "r", "class": "II"}, headers=maker.headers
    )
    now = datetime.now(UTC)
    assert deliver(runtime, now, allow_private=False) == {"delivered": 0, "retrying": 1, "failed": 0}
    assert receiver.requests == []
    logged = deliveries(client, dist)[0]
    assert logged["status"] == "pending" and "PrivateAddress" in logged["last_error"]
    assert "127.0.0.1" in logged["last_error"] or "::1" in logged["last_error"]
    # allowed (receivers on an internal network), the same delivery goes through
    assert deliver(runtime, now + timedelta(days=1), allow_private=True)["delivered"] == 1
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_address_is_checked_before_anything_is_sent(receiver, scheme):
    """Before the request and, for https, before the TLS handshake: the receiver sees no connection's data."""
    port = receiver.url.split(":")[2].split("/")[0]
    with pytest.raises(webhook_http.PrivateAddress, match=r"127\.0\.0\.1"):
        webhook_http.http_post(f"{scheme}://127.0.0.1:{port}/hooks/passport", b"{}", {})
    assert receiver.requests == []
    assert webhook_http.http_post(f"http://127.0.0.1:{port}/hooks/passport", b"{}", {}, allow_private=True) == 200
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "url",
    ["http://1.2.3.256/hook", "http://08/hook", "http://a1.2/hook", "http://[64:ff9b::zz]/hook"],
)
def test_hosts_that_look_numeric_but_are_no_address_are_refused(client, make_org, url):
    """Neither an address nor a name worth looking up, even where private addresses are allowed."""
    org = make_org("distributor", "drug_wholesale")
    refused = client.post("/v1/webhooks", json={"url": url}, headers=org.headers)
    assert "not an address" in assert_problem(refused, 422, "invalid_webhook_url")["detail"]


DISGUISED_LOOPBACK = [
    ("127.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("localhost", "127.0.0.1"),
    ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),
    ("[64:ff9b:1::7f00:1]", "64:ff9b:1::7f00:1"),
    ("[2002:7f00:1::]", "2002:7f00:1::"),
    ("[::127.0.0.1]", "::127.0.0.1"),
    ("[2001::7f00:1]", "2001::7f00:1"),
]


@pytest.mark.parametrize(("host", "address"), DISGUISED_LOOPBACK)
def test_delivery_refuses_a_disguised_address_without_connecting(client, runtime, make_org, receiver, host, address):
    """Registration bypassed (the row edited in the database): the delivery still resolves the host as the system
    does and refuses before it connects, whether or not the embedded address would have been reachable."""
    org = make_org("distributor", "drug_wholesale")
    endpoint_id = register(client, org, "https://hooks.example.com/passport")["id"]
    port = receiver.url.split(":")[2].split("/")[0]
    now = datetime.now(UTC)
    with runtime.sessions.begin() as session:
        session.get(WebhookEndpoint, endpoint_id).url = f"http://{host}:{port}/hooks/passport"
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint_id, event_type="recall.created", payload={}, next_attempt_at=now, created_at=now
            )
        )
    assert deliver(runtime, now, allow_private=False) == {"delivered": 0, "retrying": 1, "failed": 0}
    [logged] = deliveries(client, org)
    assert logged["last_error"].startswith("PrivateAddress") and address in logged["last_error"], logged
    assert "nothing was sent" in logged["last_error"]
    assert receiver.requests == [] and receiver.connections == 0
