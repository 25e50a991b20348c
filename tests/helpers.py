"""What the test modules share: the test settings, a served app, an organisation's handle, and the shorthands of the
API tests (post an event, read its results, verify a code, check a problem document).

Test modules import from here and from tests/strategies.py, never from one another (tests/unit/test_architecture.py
checks it); fixtures shared by several modules live in the conftest.py files.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uvicorn
from sqlalchemy import Connection, func, select, text

from app.config import Settings
from app.db.models import (
    Batch,
    Container,
    ContainerLot,
    Containment,
    Event,
    EventItem,
    Issuance,
    LotCustody,
    LotHop,
    LotRecovery,
    LotSale,
    Prescription,
    Product,
    Unit,
)
from app.domain.identifiers import check_digit
from app.services.clock import utcnow
from app.services.partner_keeper import KeptAnswer

MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
BASE_URL = "https://passport.test"
GTIN = "09506000134352"  # GS1's own example GTIN (GS1 Digital Link standard)
JSON = {"Accept": "application/json"}
SSCC_CASE_1 = "106141411234567897"
SSCC_CASE_2 = "106141412345678908"
SSCC_PALLET = "376104250021234569"


# ------------------------------------------------------------------------------------------------- settings, servers


def settings_for(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "master_key": MASTER_KEY,
        "base_url": BASE_URL,
        "verify_rate_limit": "0",
        "signing_workers": 1,
        "scan_writer": "inline",
        "webhook_private_addresses": True,  # the tests' webhook receivers listen on loopback
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """An app behind a real uvicorn on loopback, in a thread: real sockets, real disconnects, real browsers."""
    port = port or free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(10)


@dataclass(frozen=True)
class Org:
    id: str
    api_key: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


# ------------------------------------------------------------------------------------------------- API shorthands


def post(client: Any, org: Any, body: Any) -> Any:
    """POST /v1/events as ``org``."""
    return client.post("/v1/events", json=body, headers=org.headers)


def ok(response: Any) -> list[dict[str, Any]]:
    """The per-code results of a 201 from POST /v1/events."""
    assert response.status_code == 201, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def verify(client: Any, uri: str) -> dict[str, Any]:
    """The JSON verification of a code, by its Digital Link URI."""
    response = client.get(uri.replace(BASE_URL, ""), headers=JSON)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem document with this status and code, and a title, a detail and a type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body


def serial(uri: str) -> str:
    """The serial (AI 21) of a Digital Link URI."""
    return uri.split("/21/")[1].split("?")[0]


# ------------------------------------------------------------------------------------------------- races


def race(pool: ThreadPoolExecutor, calls: list[Callable[[], Any]], stagger: list[float] | None = None) -> list[Any]:
    """Run the calls on their own threads, released together by a barrier (optionally each delayed by stagger[i])."""
    barrier = threading.Barrier(len(calls))

    def run(index: int, call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        if stagger and stagger[index]:
            time.sleep(stagger[index])
        return call()

    futures = [pool.submit(run, i, call) for i, call in enumerate(calls)]
    return [f.result(timeout=120) for f in futures]


def poster(client: Any, key: Any, body: dict[str, Any]) -> Callable[[], Any]:
    """A call that POSTs this event as ``key`` (for ``race``)."""
    return lambda: client.post("/v1/events", json=body, headers=key.headers)


# ------------------------------------------------------------------------------------------------ lot counters
# The per-lot counters recounted from scratch (from tests/api/test_lot_counters.py, shared with other tests).


def sscc(n: int) -> str:
    body = f"0614141{n:010d}"
    return "(00)" + body + check_digit(body)


# ------------------------------------------------------------------------------------------------- the recount


def _inside_at(links: list[tuple[Any, str, int, int | None]], thing: Any, t: int) -> str | None:
    """The container a unit id or an SSCC was in just before event ``t`` finished (intervals are open)."""
    for child, parent, packed, unpacked in links:
        if child == thing and packed < t and (unpacked is None or unpacked > t):
            return parent
    return None


def recount(conn, unit_ids: set[int] | None = None, since: datetime | None = None) -> dict[str, Counter]:
    """Every counter counted from the rows (optionally for some units only, recovery since a time)."""
    makers = dict(conn.execute(select(Product.gtin, Product.manufacturer_id)).all())
    containers = {
        c.sscc: c
        for c in conn.execute(
            select(Container.sscc, Container.parent_sscc, Container.state, Container.holder_id, Container.to_id)
        ).all()
    }
    units = [
        u
        for u in conn.execute(
            select(Unit.id, Unit.gtin, Unit.batch_id, Unit.state, Unit.holder_id, Unit.to_id, Unit.container_sscc)
        ).all()
        if unit_ids is None or u.id in unit_ids
    ]
    lot_of = {u.id: u.batch_id for u in units}
    out: dict[str, Counter] = {k: Counter() for k in ("custody", "contents", "hops", "sales", "recovery")}
    for u in units:
        if u.container_sscc is None:
            out["custody"][(u.batch_id, u.state, u.holder_id or makers[u.gtin], u.to_id or "")] += 1
            continue
        current = containers[u.container_sscc]
        while True:
            out["contents"][(current.sscc, u.batch_id)] += 1
            if current.parent_sscc is None:
                break
            current = containers[current.parent_sscc]
        out["custody"][(u.batch_id, current.state, current.holder_id or "", current.to_id or "")] += 1

    items = conn.execute(
        select(
            Event.id,
            Event.action,
            Event.org_id,
            Event.to_id,
            Event.channel,
            Event.platform_id,
            Event.undone_by_event_id,
            Event.recorded_at,
            EventItem.unit_id,
            EventItem.container_sscc,
        )
        .join(EventItem, EventItem.event_id == Event.id)
        .order_by(Event.id, EventItem.id)
    ).all()
    sold: set[tuple[int, int, str, str, str]] = set()
    links = [
        (c.unit_id if c.unit_id is not None else c.child_sscc, c.parent_sscc, c.packed_event_id, c.unpacked_event_id)
        for c in conn.execute(select(Containment)).all()
    ]
    for item in items:
        if item.action in ("sell", "dispense") and item.undone_by_event_id is None and item.unit_id in lot_of:
            sold.add((item.unit_id, lot_of[item.unit_id], item.action, item.channel or "", item.platform_id or ""))
        if item.action not in ("ship", "return", "destroy", "recycle"):
            continue
        if item.unit_id is not None:
            moved = [item.unit_id] if item.unit_id in lot_of else []
        else:
            moved = []
            for unit_id in lot_of:
                where = _inside_at(links, unit_id, item.id)
                while where is not None and where != item.container_sscc:
                    where = _inside_at(links, where, item.id)
                if where == item.container_sscc:
                    moved.append(unit_id)
        for unit_id in moved:
            if item.action == "ship":
                out["hops"][(lot_of[unit_id], item.org_id, item.to_id)] += 1
            elif since is None or item.recorded_at >= since:
                out["recovery"][(lot_of[unit_id], item.action)] += 1
    for _, batch_id, action, channel, platform in sold:
        out["sales"][(batch_id, action, channel, platform)] += 1
    return out


def counters(conn) -> dict[str, Counter]:
    tables = {
        "custody": (LotCustody, ("batch_id", "state", "holder_id", "to_id")),
        "contents": (ContainerLot, ("sscc", "batch_id")),
        "hops": (LotHop, ("batch_id", "from_id", "to_id")),
        "sales": (LotSale, ("batch_id", "action", "channel", "platform_id")),
        "recovery": (LotRecovery, ("batch_id", "action")),
    }
    out: dict[str, Counter] = {}
    for name, (model, keys) in tables.items():
        columns = [getattr(model, k) for k in keys]
        rows = conn.execute(select(*columns, model.units)).all()
        out[name] = Counter({tuple(r[:-1]): r[-1] for r in rows if r[-1]})
    # Issued units are read from the issuances: lot_custody holds only what events changed.
    for batch_id, maker, n in conn.execute(
        select(Issuance.batch_id, Product.manufacturer_id, func.sum(Issuance.count))
        .join(Batch, Batch.id == Issuance.batch_id)
        .join(Product, Product.gtin == Batch.gtin)
        .group_by(Issuance.batch_id, Product.manufacturer_id)
    ):
        out["custody"][(batch_id, "issued", maker, "")] += n
    out["custody"] = Counter({k: n for k, n in out["custody"].items() if n})
    return out


def assert_counted(runtime, step: str) -> dict[str, Counter]:
    with runtime.engine.connect() as conn:
        kept, counted = counters(conn), recount(conn)
    for name in counted:
        assert kept[name] == counted[name], f"after {step}: {name} kept {dict(kept[name])} != {dict(counted[name])}"
    return kept


def snapshot(runtime) -> tuple[int, ...]:
    """Row counts of events, items, containers, containment, prescriptions; every unit's state, holder, container."""
    with runtime.sessions() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(m))
            for m in (Event, EventItem, Container, Containment, Prescription)
        ) + tuple(session.execute(select(Unit.state, Unit.holder_id, Unit.container_sscc).order_by(Unit.id)).all())


def seed_lots(
    conn: Connection, at: datetime, *, issued: int, lots: int = 1, orgs: tuple[tuple[str, str], ...] = ()
) -> None:
    """Rows written below the API, for the migration tests: organisation m1 (the manufacturer) and ``orgs`` (id,
    role), GTIN's product, and for each lot n of ``lots`` a batch n (lot Ln) with an issuance n of ``issued`` codes."""
    for org, role in (("m1", "manufacturer"), *orgs):
        conn.execute(
            text("INSERT INTO organisation (id, name, role, created_at) VALUES (:o, :o, :r, :t)"),
            {"o": org, "r": role, "t": at},
        )
    conn.execute(
        text(
            "INSERT INTO product (gtin, name, category, manufacturer_id, created_at) "
            "VALUES (:g, 'P', 'drug_rx', 'm1', :t)"
        ),
        {"g": GTIN, "t": at},
    )
    for n in range(1, lots + 1):
        conn.execute(
            text(
                "INSERT INTO batch (id, gtin, lot, manufactured_on, expires_on, created_at) "
                "VALUES (:n, :g, :lot, '2026-01-01', '2028-01-01', :t)"
            ),
            {"n": n, "g": GTIN, "lot": f"L{n}", "t": at},
        )
        conn.execute(
            text("INSERT INTO issuance (id, batch_id, count, created_at) VALUES (:n, :n, :c, :t)"),
            {"n": n, "c": issued, "t": at},
        )


def partner_answer(requester_id: str, *, held: bool = True, gtin: str = GTIN) -> KeptAnswer:
    """A kept partner verification answer (what AnswerKeeper stores), held unless ``held=False``, with a correlation UUID of its own."""
    correlation = str(uuid.uuid4())
    return KeptAnswer(
        requester_id=requester_id,
        manufacturer_id=None,
        gtin=gtin,
        serial="S1",
        unit_id=None,
        context="statusCheck",
        correlation_uuid=correlation,
        verified=False,
        held=held,
        request={"path": "/01/x", "query": "", "error": None},
        answer=json.dumps({"verified": False, "correlationUUID": correlation, "名": "对乙酰氨基酚"}),
        requested_at=utcnow(),
    )
