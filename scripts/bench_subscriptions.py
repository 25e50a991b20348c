#!/usr/bin/env python3
"""EPCIS subscription benchmark: delivery latency from capture to webhook (p50/p99/max) with 10 subscribers, on
SQLite and PostgreSQL, against a real ``passport serve`` that pushes on its own.

The server runs due subscriptions every ``PASSPORT_EPCIS_SUBSCRIPTION_INTERVAL_SECONDS`` (``--interval``, 1 s)
and sends what they queue at once; ``PASSPORT_WEBHOOK_INTERVAL_SECONDS`` is 1 and
``PASSPORT_WEBHOOK_PRIVATE_ADDRESSES`` true, so the loopback receiver is allowed.

Ten distinct organisations (manufacturers) each name a query (``EQ_bizStep=shipping``) and subscribe to it as a
stream, signed with their own ``signatureToken``, ``dest`` a path of their own on one loopback HTTP receiver
(``ThreadingHTTPServer`` in this process, recording the arrival time of each eventID and checking the
``GS1-Signature``). Then N documents (``--events``, 200), one shipping event each, are captured round-robin over
the ten, paced (``--rate``, 20/s) by a few client threads; the capture time of an event is when
``GET`` on the capture job first reports success (polled every 20 ms). Latency = arrival at the receiver minus
capture done, both on this process's monotonic clock.

Checked: every event arrives exactly once (duplicates counted after a quiet wait of three intervals), at its own
organisation's path only (a subscriber sees its own events), with a valid signature. The floor is the stream's
settle time (``SETTLE``, 1 s: an event is pushed once recorded at least 1 s ago) plus up to one interval, so the
figure is printed as p50 / interval and p50 / (SETTLE + interval).

    .venv/bin/python scripts/bench_subscriptions.py [--events 200] [--rate 20] [--interval 1]
        [--db sqlite|postgresql|both] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc

PG_NAME = "bench_subscriptions"
SUBSCRIBERS = 10
SETTLE_S = 1.0  # app.services.epcis.subscriptions.SETTLE
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


class Receiver(BaseHTTPRequestHandler):
    """One loopback webhook receiver for all subscribers: ``/org/<i>`` is subscriber i's dest."""

    lock: ClassVar[threading.Lock] = threading.Lock()
    arrivals: ClassVar[dict[str, list[tuple[float, int]]]] = defaultdict(list)  # eventID -> [(when, subscriber)]
    tokens: ClassVar[dict[int, str]] = {}
    bad_signatures: ClassVar[int] = 0
    requests: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        when = time.monotonic()
        try:
            who = int(self.path.rsplit("/", 1)[1])
            events = json.loads(body)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        except (ValueError, KeyError, IndexError, TypeError):
            self.send_response(400)
            self.end_headers()
            return
        token = self.tokens.get(who, "")
        expected = hmac.new(
            token.encode(), f"{self.headers.get('Passport-Timestamp', '')}.".encode() + body, hashlib.sha256
        ).hexdigest()
        with self.lock:
            type(self).requests += 1
            if self.headers.get("GS1-Signature") != f"v1={expected}":
                type(self).bad_signatures += 1
            for event in events:
                self.arrivals[event["eventID"]].append((when, who))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @classmethod
    def reset(cls) -> None:
        cls.arrivals = defaultdict(list)
        cls.tokens = {}
        cls.bad_signatures = 0
        cls.requests = 0


def document(event_id: str, subscriber: int, n: int) -> bytes:
    doc = {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventID": event_id,
                    "eventTime": datetime.now(UTC).isoformat(),
                    "eventTimeZoneOffset": "+00:00",
                    "epcList": [f"urn:epc:id:sgtin:40{subscriber:05d}.011111.{n}"],
                    "action": "OBSERVE",
                    "bizStep": "shipping",
                }
            ]
        },
    }
    return json.dumps(doc).encode()


def capture(base: str, key: str, body: bytes) -> float:
    """POST one document; poll its job every 20 ms; the monotonic time it first reports success."""
    headers = {"Content-Type": "application/ld+json", "Authorization": f"Bearer {key}"}
    request = urllib.request.Request(base + "/epcis/capture", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        location = response.headers["Location"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job: dict[str, Any] = bc.api_ok(base, "GET", location, key=key)
        if not job["running"]:
            if not job["success"] or job.get("capturedCount") != 1:
                raise RuntimeError(f"capture failed: {str(job)[:600]}")
            return time.monotonic()
        time.sleep(0.02)
    raise RuntimeError(f"capture job {location} still running after 60 s")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))]


def run_db(db: str, url: str, args: argparse.Namespace, workdir: Path, receiver_port: int) -> dict[str, Any]:
    Receiver.reset()
    env = bc.passport_env(
        url,
        workdir,
        PASSPORT_EPCIS_SUBSCRIPTION_INTERVAL_SECONDS=str(args.interval),
        PASSPORT_WEBHOOK_INTERVAL_SECONDS="1",
        PASSPORT_WEBHOOK_PRIVATE_ADDRESSES="true",
        PASSPORT_VERIFY_RATE_LIMIT="0",
    )
    server = bc.db_server(db, env, workdir)
    try:
        bc.run_passport(["init"], env, workdir)
        server.start()
        keys = []
        for i in range(SUBSCRIBERS):
            key = bc.create_manufacturer(env, workdir, name=f"Bench Subscriber {i}")["api_key"]
            token = f"bench-subscriber-{i}-token-{uuid.uuid4().hex}"[:48]
            Receiver.tokens[i] = token
            bc.api_ok(
                server.base, "POST", "/epcis/queries", {"name": "shipments", "query": {"EQ_bizStep": "shipping"}}, key
            )
            bc.api_ok(
                server.base,
                "POST",
                "/epcis/queries/shipments/subscriptions",
                {"dest": f"http://127.0.0.1:{receiver_port}/org/{i}", "stream": True, "signatureToken": token},
                key,
            )
            keys.append(key)
        background = bc.wait_for_quiet(10)
        load_before = os.getloadavg()
        plan = [(f"urn:uuid:{uuid.uuid4()}", n % SUBSCRIBERS, n) for n in range(args.events)]
        captured: dict[str, float] = {}
        owner = {event_id: who for event_id, who, _ in plan}
        start = time.monotonic()

        def one(item: tuple[str, int, int]) -> None:
            event_id, who, n = item
            delay = start + n / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            captured[event_id] = capture(server.base, keys[who], document(event_id, who, n))

        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            list(pool.map(one, plan))
        capture_s = time.monotonic() - start
        deadline = time.monotonic() + args.timeout
        while len(Receiver.arrivals) < args.events and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3 * args.interval + SETTLE_S)  # anything sent twice arrives meanwhile
        load_after = os.getloadavg()
        with Receiver.lock:
            arrivals = {k: list(v) for k, v in Receiver.arrivals.items()}
            bad_signatures, requests = Receiver.bad_signatures, Receiver.requests
        delivered = [e for e in captured if e in arrivals]
        duplicates = sum(len(v) - 1 for v in arrivals.values() if len(v) > 1)
        misrouted = sum(1 for e, v in arrivals.items() if any(who != owner.get(e) for _, who in v))
        unknown = sum(1 for e in arrivals if e not in captured)
        latencies = [arrivals[e][0][0] - captured[e] for e in delivered]
        if not latencies:
            raise RuntimeError(f"nothing delivered; server log:\n{server.log_tail()}")
        p50, p99, worst = percentile(latencies, 50), percentile(latencies, 99), max(latencies)
        result = {
            "db": db,
            "events": args.events,
            "delivered": len(delivered),
            "duplicates": duplicates,
            "misrouted": misrouted,
            "unknown": unknown,
            "bad_signatures": bad_signatures,
            "webhook_requests": requests,
            "capture_seconds": round(capture_s, 2),
            "capture_rate_per_s": round(args.events / capture_s, 1),
            "p50_s": round(p50, 3),
            "p99_s": round(p99, 3),
            "max_s": round(worst, 3),
            "min_s": round(min(latencies), 3),
            "mean_s": round(statistics.fmean(latencies), 3),
            "interval_s": args.interval,
            "p50_over_interval": round(p50 / args.interval, 2),
            "p50_over_settle_plus_interval": round(p50 / (SETTLE_S + args.interval), 2),
            "background_cores": round(background, 2),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
        }
        print(
            f"  [{db}] delivered {len(delivered)}/{args.events} (duplicates {duplicates}, misrouted {misrouted}, "
            f"bad signatures {bad_signatures}, {requests} webhook requests); capture {args.events / capture_s:.1f}/s; "
            f"latency p50 {p50:.3f} s, p99 {p99:.3f} s, max {worst:.3f} s; p50 / interval "
            f"{p50 / args.interval:.2f}, p50 / (settle + interval) {p50 / (SETTLE_S + args.interval):.2f}; "
            f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}",
            flush=True,
        )
        return result
    except Exception:
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200, help="documents captured, one event each")
    parser.add_argument("--rate", type=float, default=20.0, help="captures started per second")
    parser.add_argument("--clients", type=int, default=4, help="client threads capturing")
    parser.add_argument("--interval", type=float, default=1.0, help="PASSPORT_EPCIS_SUBSCRIPTION_INTERVAL_SECONDS")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the last delivery")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--database-url",
        help="an empty PostgreSQL database to use instead (default: bench_subscriptions, created and dropped)",
    )
    args = parser.parse_args()
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), f"load average {os.getloadavg()}", flush=True)

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = int(receiver.server_address[1])
    results = []
    try:
        dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
        if args.database_url:
            dbs = ["postgresql"]
        for db in dbs:
            with tempfile.TemporaryDirectory(prefix=f"bench-subscriptions-{db}-") as tmp:
                workdir = Path(tmp)
                if db == "sqlite":
                    results.append(run_db(db, f"sqlite:///{workdir / 'passport.db'}", args, workdir, port))
                elif args.database_url:
                    results.append(run_db(db, args.database_url, args, workdir, port))
                else:
                    try:
                        url = bc.pg_recreate(PG_NAME).replace("postgresql://", "postgresql+psycopg://", 1)
                        results.append(run_db(db, url, args, workdir, port))
                    finally:
                        bc.pg_drop(PG_NAME)
    finally:
        receiver.shutdown()
    print()
    print(
        bc.table(
            ["db", "delivered", "dup", "p50 s", "p99 s", "max s", "p50/interval", "p50/(settle+interval)", "load"],
            [
                [
                    r["db"],
                    f"{r['delivered']}/{r['events']}",
                    r["duplicates"],
                    f"{r['p50_s']:.3f}",
                    f"{r['p99_s']:.3f}",
                    f"{r['max_s']:.3f}",
                    f"{r['p50_over_interval']:.2f}",
                    f"{r['p50_over_settle_plus_interval']:.2f}",
                    f"{r['loadavg_before'][0]:.2f}",
                ]
                for r in results
            ],
        )
    )
    path = bc.write_result(
        "subscriptions",
        {"machine": info, "code": bc.code_version(), "args": vars(args), "results": results},
    )
    print(f"\nwritten to {path}")
    ok = all(
        r["delivered"] == r["events"] and not (r["duplicates"] or r["misrouted"] or r["unknown"] or r["bad_signatures"])
        for r in results
    )
    if not ok:
        print("FAILED: not every event arrived exactly once, at its own subscriber, signed", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
