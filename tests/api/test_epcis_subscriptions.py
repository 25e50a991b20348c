"""EPCIS query subscriptions (POST /epcis/queries/{name}/subscriptions): streams and schedules pushed as signed
webhook deliveries, each event once, as the subscriber's organisation may see it; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import WebhookDelivery
from app.domain.epcis_subscription import next_run
from app.main import create_app
from app.services import webhooks
from app.services.clock import utcnow
from app.services.epcis import subscriptions
from app.services.runtime import Runtime
from tests.helpers import assert_problem, settings_for

EPCIS = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
TOKEN = "a-subscriber-secret-of-32-chars!"
DEST = "https://subscriber.example.com/epcis"


@pytest.fixture
def settings(database_url: str):
    # the tests run subscriptions and deliveries themselves, at the times they choose
    return settings_for(database_url, epcis_subscription_interval_seconds=0, webhook_interval_seconds=0)


def uid(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{n:012d}"


def capture(client, org, *steps: tuple[int, str]) -> None:
    events = [
        {
            "type": "ObjectEvent",
            "eventID": uid(n),
            "eventTime": "2026-11-01T08:00:00Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"urn:epc:id:sgtin:4012345.011111.{n}"],
            "action": "OBSERVE",
            "bizStep": step,
        }
        for n, step in steps
    ]
    doc = {
        "@context": [EPCIS],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": events},
    }
    headers = {**org.headers, "Content-Type": "application/ld+json"}
    response = client.post("/epcis/capture", content=json.dumps(doc).encode(), headers=headers)
    assert response.status_code == 202, response.text
    assert client.get(response.headers["location"], headers=org.headers).json()["success"] is True


def name_query(client, org, name: str, query: dict[str, Any]) -> None:
    created = client.post("/epcis/queries", json={"name": name, "query": query}, headers=org.headers)
    assert created.status_code == 201, created.text


def subscribe(client, org, name: str, **body: Any):
    return client.post(f"/epcis/queries/{name}/subscriptions", json={"dest": DEST, **body}, headers=org.headers)


def run(runtime: Runtime, at) -> int:
    return subscriptions.run_due(runtime.sessions, base_url=runtime.settings.base_url, now=at)


class Sent:
    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers) -> int:
        self.requests.append((url, body, dict(headers)))
        return 200

    def event_ids(self, i: int) -> list[str]:
        document = json.loads(self.requests[i][1])
        assert document["type"] == "EPCISQueryDocument"
        return [e["eventID"] for e in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]


def deliver(runtime: Runtime, at) -> Sent:
    sent = Sent()
    webhooks.deliver_due(runtime.sessions, runtime.keyring.master_key, post=sent, now=at)
    return sent


def test_a_stream_pushes_each_new_matching_event_once_signed_with_the_token(client, runtime, maker):
    name_query(client, maker, "shipments", {"EQ_bizStep": "shipping"})
    created = subscribe(client, maker, "shipments", stream=True, signatureToken=TOKEN)
    assert created.status_code == 201, created.text
    view = created.json()
    assert created.headers["location"] == f"/epcis/queries/shipments/subscriptions/{view['subscriptionID']}"
    assert view["stream"] is True and view["dest"] == DEST and view["signed"] is True
    assert TOKEN not in created.text

    capture(client, maker, (1, "shipping"), (2, "receiving"))
    assert run(runtime, utcnow()) == 0  # recorded less than a second ago: a later commit could still slip in
    later = utcnow() + timedelta(seconds=5)
    assert run(runtime, later) == 1
    sent = deliver(runtime, later)
    assert len(sent.requests) == 1
    url, body, headers = sent.requests[0]
    assert url == DEST and sent.event_ids(0) == [uid(1)]
    results = json.loads(body)["epcisBody"]["queryResults"]
    assert results["queryName"] == "shipments" and results["subscriptionID"] == view["subscriptionID"]
    assert headers["Passport-Event"] == "epcis.subscription"
    expected = hmac.new(TOKEN.encode(), f"{headers['Passport-Timestamp']}.".encode() + body, hashlib.sha256)
    assert headers["GS1-Signature"] == headers["Passport-Signature"] == f"v1={expected.hexdigest()}"

    assert run(runtime, later + timedelta(seconds=1)) == 0  # nothing new: nothing pushed twice
    capture(client, maker, (3, "shipping"))
    again = later + timedelta(seconds=2)
    assert run(runtime, again) == 1
    assert deliver(runtime, again).event_ids(0) == [uid(3)]
    shown = client.get(f"/epcis/queries/shipments/subscriptions/{view['subscriptionID']}", headers=maker.headers)
    assert shown.status_code == 200 and shown.json()["lastNotifiedAt"] is not None
    assert TOKEN not in shown.text


def test_without_a_token_deliveries_go_unsigned(client, runtime, maker):
    name_query(client, maker, "all", {"eventType": "ObjectEvent"})
    assert subscribe(client, maker, "all", stream=True).json()["signed"] is False
    capture(client, maker, (1, "shipping"))
    later = utcnow() + timedelta(seconds=5)
    assert run(runtime, later) == 1
    headers = deliver(runtime, later).requests[0][2]
    assert "GS1-Signature" not in headers and "Passport-Signature" not in headers


def test_a_subscriber_gets_only_what_its_organisation_may_see(client, runtime, maker, make_org):
    other = make_org("manufacturer", "drug_manufacturing")
    name_query(client, other, "everything", {"eventType": "ObjectEvent"})
    assert subscribe(client, other, "everything", stream=True).status_code == 201
    capture(client, maker, (1, "shipping"), (2, "shipping"))  # the maker's own: not the other's to read
    later = utcnow() + timedelta(seconds=5)
    assert run(runtime, later) == 0
    capture(client, other, (7, "shipping"))
    again = utcnow() + timedelta(seconds=5)
    assert run(runtime, again) == 1
    assert deliver(runtime, again).event_ids(0) == [uid(7)]


def test_initial_record_time_reaches_back(client, runtime, maker):
    capture(client, maker, (1, "shipping"))
    name_query(client, maker, "past", {"EQ_bizStep": "shipping"})
    assert subscribe(client, maker, "past", stream=True, initialRecordTime="2000-01-01T00:00:00Z").status_code == 201
    assert subscribe(client, maker, "past", stream=True).status_code == 201  # from now on: not the old event
    later = utcnow() + timedelta(seconds=5)
    assert run(runtime, later) == 1
    assert deliver(runtime, later).event_ids(0) == [uid(1)]


def test_a_schedule_runs_when_due_and_reports_empty_results_if_asked(client, runtime, maker):
    name_query(client, maker, "hourly", {"EQ_bizStep": "shipping"})
    view = subscribe(client, maker, "hourly", schedule={"minute": "0"}, reportIfEmpty=True).json()
    due = view["nextRunAt"]
    assert due is not None and due.endswith(":00:00+00:00")
    top = next_run({"minute": "0"}, utcnow())
    assert due == top.isoformat()
    assert run(runtime, top - timedelta(seconds=1)) == 0  # not yet
    assert run(runtime, top) == 1
    assert deliver(runtime, top).event_ids(0) == []  # reportIfEmpty: an empty document all the same
    shown = client.get(f"/epcis/queries/hourly/subscriptions/{view['subscriptionID']}", headers=maker.headers).json()
    assert shown["nextRunAt"] == (top + timedelta(hours=1)).isoformat()
    assert shown["schedule"] == {"minute": "0"} and shown["reportIfEmpty"] is True


def test_a_schedule_without_report_if_empty_stays_silent(client, runtime, maker):
    name_query(client, maker, "daily", {"EQ_bizStep": "shipping"})
    view = subscribe(client, maker, "daily", schedule={"hour": "1", "minute": "5"}).json()
    assert view["nextRunAt"].endswith("T01:05:00+00:00")
    when = next_run({"hour": "1", "minute": "5"}, utcnow())
    assert run(runtime, when) == 0
    capture(client, maker, (1, "shipping"))
    following = when + timedelta(days=1)
    assert run(runtime, following) == 1
    assert deliver(runtime, following).event_ids(0) == [uid(1)]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "either"),
        ({"stream": False}, "either"),
        ({"stream": True, "schedule": {"hour": "1"}}, "not both"),
        ({"schedule": {"minute": "61"}}, "outside 0..59"),
        ({"schedule": {"dayOfWeek": "0"}}, "outside 1..7"),
        ({"schedule": {"hour": "[5-2]"}}, "backwards"),
        ({"schedule": {"hour": "every"}}, "not a number"),
        ({"schedule": {"minutes": "5"}}, "unknown field 'minutes'"),
        ({"schedule": {}}, "at least one"),
        ({"stream": True, "signatureToken": "short"}, "16 to 500"),
        ({"stream": True, "reportIfEmpty": True}, "scheduled"),
        ({"stream": True, "initialRecordTime": "yesterday"}, "date-time"),
        ({"stream": True, "streem": True}, "unknown field 'streem'"),
        ({"stream": True, "dest": "ftp://subscriber.example.com/"}, "http"),
        ({"stream": True, "dest": ""}, "dest"),
    ],
)
def test_a_subscription_that_cannot_be_kept_is_the_standards_400(client, maker, settings, body, fragment):
    name_query(client, maker, "q", {"EQ_bizStep": "shipping"})
    response = client.post("/epcis/queries/q/subscriptions", json={"dest": DEST, **body}, headers=maker.headers)
    problem = assert_problem(response, 400, "invalid_subscription")
    assert problem["type"] == "epcisException:SubscriptionControlsException"
    assert fragment in problem["detail"], problem["detail"]
    assert client.get("/epcis/queries/q/subscriptions", headers=maker.headers).json() == []


def test_private_destinations_are_refused_where_webhooks_may_not_reach_them(database_url, make_org):
    settings = settings_for(database_url, epcis_subscription_interval_seconds=0, webhook_private_addresses=False)
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
            maker = make_org("manufacturer", "drug_manufacturing")
            name_query(client, maker, "q", {"EQ_bizStep": "shipping"})
            response = subscribe(client, maker, "q", stream=True, dest="http://10.0.0.7/hook")
            assert "private" in assert_problem(response, 400, "invalid_subscription")["detail"]
    finally:
        runtime.close()


def test_ordering_queries_cannot_be_subscribed(client, maker):
    name_query(client, maker, "ordered", {"EQ_bizStep": "shipping", "orderBy": "eventTime"})
    problem = assert_problem(subscribe(client, maker, "ordered", stream=True), 400, "invalid_subscription")
    assert "orderBy" in problem["detail"]


def test_subscriptions_belong_to_their_organisation(client, maker, make_org):
    other = make_org("manufacturer", "drug_manufacturing")
    assert_problem(subscribe(client, maker, "nope", stream=True), 404, "query_not_found")
    name_query(client, maker, "mine", {"EQ_bizStep": "shipping"})
    sub = subscribe(client, maker, "mine", stream=True).json()["subscriptionID"]
    path = f"/epcis/queries/mine/subscriptions/{sub}"
    assert_problem(client.get(path, headers=other.headers), 404, "subscription_not_found")
    assert_problem(client.delete(path, headers=other.headers), 404, "subscription_not_found")
    assert_problem(client.get("/epcis/queries/mine/subscriptions", headers=other.headers), 404, "query_not_found")
    assert_problem(subscribe(client, other, "mine", stream=True), 404, "query_not_found")
    assert [
        s["subscriptionID"] for s in client.get("/epcis/queries/mine/subscriptions", headers=maker.headers).json()
    ] == [sub]
    assert (
        client.post(
            "/epcis/queries/mine/subscriptions",
            content=b"[1]",
            headers={**maker.headers, "Content-Type": "application/json"},
        ).status_code
        == 400
    )


def test_unsubscribing_ends_pushes_and_pending_deliveries(client, runtime, maker):
    name_query(client, maker, "q", {"EQ_bizStep": "shipping"})
    sub = subscribe(client, maker, "q", stream=True).json()["subscriptionID"]
    capture(client, maker, (1, "shipping"))
    later = utcnow() + timedelta(seconds=5)
    assert run(runtime, later) == 1  # queued, not yet sent
    assert client.delete(f"/epcis/queries/q/subscriptions/{sub}", headers=maker.headers).status_code == 204
    assert_problem(
        client.get(f"/epcis/queries/q/subscriptions/{sub}", headers=maker.headers), 404, "subscription_not_found"
    )
    assert deliver(runtime, later).requests == []
    with runtime.sessions() as session:
        failed = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id.is_not(None))).one()
        assert (failed.status, failed.last_error) == ("failed", "subscription ended")
    capture(client, maker, (2, "shipping"))
    assert run(runtime, utcnow() + timedelta(seconds=5)) == 0


def test_deleting_the_named_query_ends_its_subscriptions(client, runtime, maker):
    name_query(client, maker, "q", {"EQ_bizStep": "shipping"})
    subscribe(client, maker, "q", stream=True)
    assert client.delete("/epcis/queries/q", headers=maker.headers).status_code == 204
    name_query(client, maker, "q", {"EQ_bizStep": "shipping"})  # the same name again: a new query, no subscriber
    assert client.get("/epcis/queries/q/subscriptions", headers=maker.headers).json() == []
    capture(client, maker, (1, "shipping"))
    assert run(runtime, utcnow() + timedelta(seconds=5)) == 0


def test_two_runners_at_once_queue_each_event_once(client, runtime, maker):
    name_query(client, maker, "q", {"EQ_bizStep": "shipping"})
    subscribe(client, maker, "q", stream=True)
    capture(client, maker, *((n, "shipping") for n in range(1, 21)))
    later = utcnow() + timedelta(seconds=5)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def runner() -> None:
        barrier.wait()
        counts.append(run(runtime, later))

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(counts) == [0, 1]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    assert deliver(runtime, later).event_ids(0) == [uid(n) for n in range(1, 21)]


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        type(self).received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/epcis"
    server.shutdown()
    server.server_close()


def test_the_server_pushes_a_stream_on_its_own(database_url, receiver, make_org):
    settings = settings_for(database_url, epcis_subscription_interval_seconds=0.2, webhook_interval_seconds=1)
    runtime = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime), raise_server_exceptions=False) as client:
            maker = make_org("manufacturer", "drug_manufacturing")
            name_query(client, maker, "q", {"EQ_bizStep": "shipping"})
            assert subscribe(client, maker, "q", stream=True, dest=receiver).status_code == 201
            capture(client, maker, (1, "shipping"))
            deadline = time.monotonic() + 20
            while not _Receiver.received and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _Receiver.received, "nothing pushed within 20 s"
            events = json.loads(_Receiver.received[0])["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            assert [e["eventID"] for e in events] == [uid(1)]
    finally:
        runtime.close()
