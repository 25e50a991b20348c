"""Two `passport serve` processes against one PostgreSQL primary act as one service (issue 19): one sale per code
whichever node each request reaches, one checkpoint per interval, each webhook delivery sent once, an EPCIS
document captured once when both nodes receive it, and the verification rate limit counted once, in Redis.

The two servers (real subprocesses on free ports, each in a process group killed at the end) are started once for
the module, on a database of their own made from the migrated template."""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app.db.engine import make_engine, make_sessionmaker
from app.db.models import EpcisEvent, Event, EventItem, LogCheckpoint, WebhookDelivery
from app.services import orgs
from tests.helpers import GTIN, Org, race
from tests.subprocess_server import passport_serve

pytestmark = pytest.mark.postgres_only
CHECKPOINT_INTERVAL = 2
RATE = 4  # scans a minute per client, counted across both nodes
REDIS_URL = "redis://127.0.0.1:6379/11"
PG_ADMIN_URL = os.environ.get("PASSPORT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_admin(sql: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def _pg_url(name: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@dataclass
class Receiver:
    url: str = ""
    deliveries: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Service:
    database_url: str
    nodes: tuple[str, str]
    maker: Org
    pharmacy: Org
    receiver: Receiver
    batch_id: int = 0

    def issue(self, count: int) -> list[str]:
        response = httpx.post(
            f"{self.nodes[0]}/v1/batches/{self.batch_id}/codes", json={"count": count}, headers=self.maker.headers
        )
        assert response.status_code == 201, response.text
        return [c["uri"] for c in response.json()["codes"]]

    def event(self, node: int, org: Org, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.nodes[node]}/v1/events", json=body, headers=org.headers, timeout=60)


def _receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.deliveries.append(self.headers["Passport-Delivery"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    return state, server


def _org(database_url: str, role: str, *licences: str) -> Org:
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            org, key = orgs.create_org(session, name=f"{role} {random.random()}", role=role, licences=licences)
            return Org(org.id, key, role)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def service(pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    name = f"passport_nodes_{os.getpid()}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    logs = tmp_path_factory.mktemp("nodes")
    receiver, hooks = _receiver()
    try:
        url = _pg_url(name)
        settings = {
            "redis_url": REDIS_URL,
            "verify_rate_limit": f"{RATE}/minute",
            "trusted_proxies": "127.0.0.1",  # the test names each client in X-Forwarded-For
            "checkpoint_interval_seconds": str(CHECKPOINT_INTERVAL),
            "webhook_interval_seconds": "1",
            "webhook_private_addresses": "true",  # the receiver is on loopback
            "duplicate_window_seconds": "0",  # a second sale is a second sale, not a scanner's repeat
            "scan_writer": "inline",
        }
        with ExitStack() as stack:
            nodes = tuple(
                stack.enter_context(passport_serve(url, logs / f"node{i}.log", **settings)).url for i in (1, 2)
            )
            assert nodes[0] != nodes[1]
            svc = Service(
                url,
                nodes,  # type: ignore[arg-type]
                _org(url, "manufacturer", "drug_manufacturing"),
                _org(url, "retailer", "drug_retail"),
                receiver,
            )
            headers = svc.maker.headers
            product = {"gtin": GTIN, "name": "Paracetamol 500 mg", "category": "drug_otc"}
            assert httpx.post(f"{nodes[1]}/v1/products", json=product, headers=headers).status_code == 201
            today = date.today()
            batch = httpx.post(
                f"{nodes[0]}/v1/batches",
                json={
                    "gtin": GTIN,
                    "lot": "LOT42",
                    "manufactured_on": (today - timedelta(days=10)).isoformat(),
                    "expires_on": (today + timedelta(days=700)).isoformat(),
                },
                headers=headers,
            )
            assert batch.status_code == 201, batch.text
            svc.batch_id = batch.json()["id"]
            yield svc
    finally:
        hooks.shutdown()
        hooks.server_close()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _count(database_url: str, statement: Any) -> Any:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(statement).all()
    finally:
        engine.dispose()


def test_a_code_is_sold_once_whichever_node_each_sale_reaches(service):
    codes = service.issue(6)
    shipped = service.event(0, service.maker, {"action": "ship", "codes": codes, "to": service.pharmacy.id})
    assert shipped.status_code == 201, shipped.text
    assert service.event(1, service.pharmacy, {"action": "receive", "codes": codes}).status_code == 201
    with ThreadPoolExecutor(2) as pool:
        for code in codes:
            body = {"action": "sell", "codes": [code], "channel": "offline"}
            answers = race(pool, [lambda n=n, b=body: service.event(n, service.pharmacy, b) for n in (0, 1)])
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [201, 409], [a.text for a in answers]
            assert [a.json()["code"] for a in answers if a.status_code == 409] == ["already_sold"]
    sales = _count(
        service.database_url,
        select(EventItem.unit_id, func.count())
        .join(Event, Event.id == EventItem.event_id)
        .where(Event.action == "sell")
        .group_by(EventItem.unit_id),
    )
    assert len(sales) == len(codes) and {n for _, n in sales} == {1}


def test_checkpoints_are_signed_once_per_interval_by_the_two_nodes(service):
    codes = service.issue(4)
    deadline = time.monotonic() + 4 * CHECKPOINT_INTERVAL
    step = 0
    while time.monotonic() < deadline:  # the log grows through both nodes while their schedules run
        body = {"action": "ship", "codes": [codes[step % 4]], "to": service.pharmacy.id}
        service.event(step % 2, service.maker if step % 8 < 4 else service.pharmacy, body)
        step += 1
        time.sleep(0.2)
    rows = _count(
        service.database_url, select(LogCheckpoint.tree_size, LogCheckpoint.created_at).order_by(LogCheckpoint.id)
    )
    assert len(rows) >= 2, rows
    gaps = [(b.created_at - a.created_at).total_seconds() for a, b in itertools.pairwise(rows)]
    assert min(gaps) >= 0.9 * CHECKPOINT_INTERVAL, gaps  # never two signings within one interval
    # on demand, both nodes at once: one signature per tree size, never two
    with ThreadPoolExecutor(8) as pool:
        answers = race(pool, [lambda n=n: httpx.get(f"{service.nodes[n % 2]}/v1/log/checkpoint") for n in range(8)])
    assert {a.status_code for a in answers} == {200}
    sizes = [size for (size,) in _count(service.database_url, select(LogCheckpoint.tree_size))]
    assert len(sizes) == len(set(sizes)), Counter(sizes).most_common(3)


def test_each_webhook_delivery_is_sent_once_by_the_two_nodes(service):
    codes = service.issue(5)
    holders = [_org(service.database_url, "distributor", "drug_wholesale") for _ in codes]
    for n, (code, holder) in enumerate(zip(codes, holders, strict=True)):
        assert (
            service.event(n % 2, service.maker, {"action": "ship", "codes": [code], "to": holder.id}).status_code == 201
        )
        hooked = httpx.post(
            f"{service.nodes[n % 2]}/v1/webhooks", json={"url": service.receiver.url}, headers=holder.headers
        )
        assert hooked.status_code == 201, hooked.text
    recall = httpx.post(
        f"{service.nodes[1]}/v1/recalls",
        json={"gtin": GTIN, "lots": ["LOT42"], "reason": "two nodes", "class": "II"},
        headers=service.maker.headers,
    )
    assert recall.status_code == 201, recall.text
    wanted = {d for (d,) in _count(service.database_url, select(WebhookDelivery.id))}
    deadline = time.monotonic() + 60
    while len(set(service.receiver.deliveries)) < len(wanted):
        assert time.monotonic() < deadline, (service.receiver.deliveries, wanted)
        time.sleep(0.2)
    time.sleep(2.5)  # both senders ran at least twice more: a second send would have arrived by now
    sent = Counter(service.receiver.deliveries)
    assert len(wanted) >= len(holders) and {str(d) for d in wanted} <= set(sent), (sent, wanted)
    assert max(sent.values()) == 1, sent.most_common(3)


def test_one_epcis_document_sent_to_both_nodes_is_captured_once(service):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"urn:epc:id:sgtin:9506000.013435.NODES{i}"],
            "action": "OBSERVE",
            "bizStep": "inspecting",
        }
        for i in range(300)
    ]
    document = json.dumps(
        {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-11-23T08:00:00Z",
            "epcisBody": {"eventList": events},
        }
    ).encode()
    headers = {**service.maker.headers, "Content-Type": "application/ld+json", "GS1-Capture-Error-Behaviour": "proceed"}

    def capture(node: int) -> dict[str, Any]:
        posted = httpx.post(f"{service.nodes[node]}/epcis/capture", content=document, headers=headers, timeout=120)
        assert posted.status_code == 202, posted.text
        deadline = time.monotonic() + 120
        while True:  # either node answers about either node's job
            job = httpx.get(service.nodes[1 - node] + posted.headers["location"], headers=service.maker.headers)
            assert job.status_code == 200, job.text
            if not job.json()["running"]:
                return dict(job.json())
            assert time.monotonic() < deadline, job.json()
            time.sleep(0.1)

    with ThreadPoolExecutor(2) as pool:
        jobs = race(pool, [lambda: capture(0), lambda: capture(1)])
    assert all(j["success"] for j in jobs), jobs
    assert sum(j["capturedCount"] for j in jobs) == len(events), jobs
    assert sum(j["duplicateCount"] for j in jobs) == len(events), jobs
    [(kept,)] = _count(
        service.database_url, select(func.count()).select_from(EpcisEvent).where(EpcisEvent.biz_step == "inspecting")
    )
    assert kept == len(events)  # no event kept twice


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as probe:
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379 to share the rate limit through")
def test_the_rate_limit_is_one_count_across_the_nodes_in_redis(service):
    client = f"2001:db8::{random.getrandbits(32):x}:{random.getrandbits(16):x}"  # a client of its own per run
    headers = {"Accept": "application/json", "X-Forwarded-For": client}
    statuses = [
        httpx.get(f"{service.nodes[n % 2]}/01/{GTIN}/21/NOSUCHSERIAL{n}", headers=headers).status_code
        for n in range(RATE + 2)
    ]
    assert statuses == [200] * RATE + [429, 429], statuses  # in memory, each node would have let 2 * RATE through
