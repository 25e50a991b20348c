"""Benchmark one event per request (a till, a scanner gun), and the log's sequencing under concurrent writers.

For each database: a manufacturer ships single units to a distributor, one ``POST /v1/events`` per unit, first from
one client, then from 8 concurrent clients, each for --seconds; then the same against the floor, a minimal FastAPI
endpoint that inserts one row per request in its own transaction in the same database (scripts/minimal_app.py,
``POST /rows``), with 1 and 8 clients. The minimal server runs one process, Passport ``--workers`` (default 1: one
process, whose GIL bounds what 8 clients can gain from a CPU-bound request path). Printed, with ratios measured
in this run:

- single event (1 client) / minimal insert (1 client)      goal >= 0.5 (issue 17, "one event per request"); and
  the same by the servers' CPU time per request (minimal's / the event's), which other load disturbs less
- single events, 8 clients / 1 client (PostgreSQL)          goal >= 2.0 (issue 17, "no hot row"); beside it the
  cpu-bound: the most 8 vs 1 could be on this machine idle, its cores / all the CPU an event costs at 8 clients
  (the server, PostgreSQL's backends and shared processes, this script's client threads), over 1 client's rate

Beside the goal's reference, a second one that is not the goal's: the same one-row insert as FastAPI's own tutorial
writes it (``POST /orm-rows``: a ``def`` endpoint in the thread pool, a pydantic body, a SQLAlchemy ``Session`` from
a ``yield`` dependency, ``add``/``commit``/``refresh``, a response model), 1 client, event / tutorial by rate and CPU:
what the event costs against the usual shape of a FastAPI write, which also keeps its database work off the loop.

Then the floor of any event-recording request here: the same route with the same key, a body the validation
refuses after authentication (middleware, routing, the worker thread, the session, the key's lookups, a problem
answer; no custody rules, rows or log), 1 client, its rate and CPU per request against the minimal insert's.

Afterwards the log is checked where the database is: leaf indices dense 0..n-1, one leaf per event, none pending.

By default each request opens its own connection (``urllib``), for both servers; ``--keep-alive`` gives each
client thread one persistent HTTP/1.1 connection per server instead (``http.client``), as a till or a scanner's
gateway would keep one: it takes the connection's setup and this script's heavier client out of both sides alike.

``--against DIR`` adds an interleaved A/B for a shared, noisy machine: a second Passport server from another
source tree (B; A is ``--source`` or this checkout) on the same database, and the single event and the floor
request sent to A and B in alternating 1-second bursts, 1 client, their server CPU per request summed per server:
both meet the same background load, which moves the figures of runs minutes apart by a third.

    .venv/bin/python scripts/bench_single_events.py [--db sqlite|postgresql|both] [--seconds 8]
        [--profile DIR [--profile-gil]] [--keep-alive] [--source DIR] [--against DIR [--bursts 10]]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import bench_common as bc
import bench_custody
from bench_custody import create_org, issue_all

PG_NAME = "bench_single_events"
CLIENTS = 8
GIL_ONLY = False  # --profile-gil


class Profile(bench_custody.Profile):
    """``bench_custody.Profile``; with ``--profile-gil`` py-spy samples only the thread holding the GIL (``--gil``,
    no ``--native``): the split of the CPU's Python between the event loop and the worker thread, without the
    samples of a thread waiting for the GIL."""

    def __enter__(self) -> Profile:
        if self.directory is None or not GIL_ONLY:
            super().__enter__()
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [bc._venv_bin("py-spy"), "record", "--gil", "--pid", str(self.pid), "--rate", "250", "--format", "raw"]
        out = self.directory / f"{self.name}.txt"
        self.proc = subprocess.Popen([*argv, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached before the step starts
        return self


class KeptClient:
    """``bc.api`` over one persistent connection per thread and server (``--keep-alive``)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def __call__(self, base: str, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        conns: dict[str, http.client.HTTPConnection] = self.local.__dict__.setdefault("conns", {})
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        for attempt in (1, 2):
            conn = conns.get(base)
            if conn is None:
                host, port = base.removeprefix("http://").rsplit(":", 1)
                conn = conns[base] = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                del conns[base]
                if attempt == 2:
                    raise
        return response.status, json.loads(raw) if raw else None


API = bc.api


@dataclass
class Shipments:
    """A manufacturer's lot of issued codes and a distributor to ship them to: ``ship`` posts one ``ship`` event of
    the next code (a till, a scanner gun), from any client thread, and fails unless it was accepted and logged."""

    key: str
    to: str
    codes: Iterator[str]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def prepare(cls, base: str, env: dict[str, str], workdir: Path, units: int, lot: str) -> Shipments:
        maker = bc.create_manufacturer(env, workdir)
        dist = create_org(env, workdir, "Bench Distribution", "distributor", "drug_wholesale")
        key = maker["api_key"]
        gtin = bc.gtin_with_check("0950600013435")
        bc.api_ok(
            base, "POST", "/v1/products", {"gtin": gtin, "name": "Bench Paracetamol", "category": "drug_otc"}, key
        )
        return cls(key, dist["id"], iter(issue_all(base, key, bc.create_batch(base, key, gtin, lot), units)))

    def ship(self, api: Any, base: str) -> None:
        with self.lock:
            code = next(self.codes)
        status, body = api(base, "POST", "/v1/events", {"action": "ship", "codes": [code], "to": self.to}, self.key)
        if status != 201 or body["results"][0]["status"] != "accepted" or body["results"][0]["log_index"] is None:
            raise RuntimeError(f"ship ({base}) -> {status}: {str(body)[:300]}")


def drive(clients: int, seconds: float, one: Any) -> dict[str, Any]:
    """``clients`` threads call ``one()`` until ``seconds`` are over; requests per second over the whole run."""
    done = [0] * clients
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        try:
            while time.perf_counter() < stop:
                one()
                done[i] += 1
        except Exception as error:  # the run is void; say why
            errors.append(repr(error))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed, first: {errors[0]}")
    return {"clients": clients, "requests": sum(done), "seconds": round(elapsed, 2), "per_s": sum(done) / elapsed}


def metered(pid: int, clients: int, seconds: float, one: Any, pg_name: str | None = None) -> dict[str, Any]:
    """``drive``, with the server's CPU time per request (the server process and its children): a figure other
    load on a shared machine disturbs much less than the rates. Also the client's (this process: the driving
    threads) and, with ``pg_name``, PostgreSQL's: the database's backends, and with them the shared background
    processes (WAL writer, checkpointer: others' work on a shared machine lands there too)."""
    meter = bc.CpuMeter(lambda: [pid, *bc.children(pid)])
    backends = bc.CpuMeter(lambda: [p for p in bc.postgres_pids(pg_name) if f" {pg_name} " in bc.cmdline(p)])
    shared = bc.CpuMeter(lambda: [p for p in bc.postgres_pids(pg_name) if f" {pg_name} " not in bc.cmdline(p)])
    client = resource.getrusage(resource.RUSAGE_SELF)
    for m in (meter, backends, shared) if pg_name else (meter,):
        m.start()
    row = drive(clients, seconds, one)
    n = max(row["requests"], 1)
    row["server_cpu_ms"] = round(1000 * meter.stop() / n, 2)
    after = resource.getrusage(resource.RUSAGE_SELF)
    row["client_cpu_ms"] = round(1000 * (after.ru_utime + after.ru_stime - client.ru_utime - client.ru_stime) / n, 2)
    if pg_name:
        row["pg_backend_cpu_ms"] = round(1000 * backends.stop() / n, 2)
        row["pg_shared_cpu_ms"] = round(1000 * shared.stop() / n, 2)
    return row


def _all_cpu(row: dict[str, Any]) -> float:
    """The server's CPU per request and, on PostgreSQL, its database backends'."""
    return row["server_cpu_ms"] + row.get("pg_backend_cpu_ms", 0.0)


def cpu_bound(rows: dict[str, Any], cores: int) -> dict[str, Any]:
    """The most 8 clients against one could be on this machine if it were idle: ``cores`` CPU-seconds a second
    divided by all the CPU an event costs at 8 clients (server + PostgreSQL + client), against 1 client's measured
    rate. Below 2, the goal "8 clients >= 2 x one" is above what this machine can show, whatever the service does."""
    eight = rows[f"events_{CLIENTS}"]
    parts = ("server_cpu_ms", "client_cpu_ms", "pg_backend_cpu_ms", "pg_shared_cpu_ms")
    total_ms = sum(eight.get(k, 0.0) for k in parts)
    own_ms = total_ms - eight.get("pg_shared_cpu_ms", 0.0)
    one = rows["events_1"]["per_s"]
    return {
        "cpu_ms_per_event_8": round(total_ms, 2),
        "cpu_bound_rate_8": round(cores * 1000 / total_ms, 1),
        "cpu_bound_8_vs_1": round(cores * 1000 / total_ms / one, 3),
        "cpu_bound_8_vs_1_without_pg_shared": round(cores * 1000 / own_ms / one, 3),
    }


def interleaved(
    servers: dict[str, int], bursts: int, burst_s: float, one: Any, pg_name: str | None
) -> dict[str, dict[str, Any]]:
    """A/B on a shared, noisy machine: 1 client, ``bursts`` short bursts per server, alternating (A B B A ...), so
    both servers' requests meet the same background load; CPU per request summed over each server's bursts."""
    totals = {name: {"requests": 0, "server_cpu_ms": 0.0, "pg_backend_cpu_ms": 0.0} for name in servers}
    names = list(servers)
    for i in range(bursts):
        for name in names if i % 2 == 0 else reversed(names):
            row = metered(servers[name], 1, burst_s, lambda n=name: one(n), pg_name)
            t = totals[name]
            t["requests"] += row["requests"]
            t["server_cpu_ms"] += row["server_cpu_ms"] * row["requests"]
            t["pg_backend_cpu_ms"] += row.get("pg_backend_cpu_ms", 0.0) * row["requests"]
    for t in totals.values():
        n = max(t["requests"], 1)
        t["server_cpu_ms"] = round(t["server_cpu_ms"] / n, 3)
        t["pg_backend_cpu_ms"] = round(t["pg_backend_cpu_ms"] / n, 3)
    return totals


def run_db(
    db: str,
    seconds: float,
    units: int,
    workdir: Path,
    profile: Path | None,
    workers: int,
    against: Path | None = None,
    bursts: int = 10,
) -> dict[str, Any]:
    pg_name = PG_NAME if db == "postgresql" else None
    url = bc.db_url(db, workdir, PG_NAME)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    server = bc.db_server(db, env, workdir, workers=workers)
    minimal_env = {**env, "MINIMAL_DATABASE_URL": url}
    port = bc.free_port()
    minimal = bc.Server(
        "minimal",
        [
            bc._venv_bin("uvicorn"),
            "--app-dir",
            str(Path(__file__).parent),
            "minimal_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        minimal_env,
        workdir,
        port,
        workdir / f"minimal-{db}.log",
    )
    with bc.serving(server, db, PG_NAME, also=(minimal,)):
        bc.run_passport(["init"], env, workdir)
        server.start()
        base = server.base
        print(f"[{db}] issuing {units:,} units ...", flush=True)
        shipments = Shipments.prepare(base, env, workdir, units, "SINGLE")
        mkey = shipments.key

        def ship_one() -> None:
            shipments.ship(API, base)

        for _ in range(20):  # warm-up
            ship_one()
        rows: dict[str, dict[str, Any]] = {}
        ab: dict[str, Any] = {}
        if against is not None:
            ab = run_against(db, against, env, workdir, server, bursts, pg_name, shipments)
        for clients in (1, CLIENTS):
            bc.wait_for_quiet(5)
            with Profile(profile, server.pid, f"{db}-events-{clients}"):
                rows[f"events_{clients}"] = metered(server.pid, clients, seconds, ship_one, pg_name)
            row = rows[f"events_{clients}"]
            print(
                f"  single events, {clients} client(s): {row['per_s']:.0f}/s, CPU {row['server_cpu_ms']} ms each"
                f" (client {row['client_cpu_ms']} ms, PostgreSQL {row.get('pg_backend_cpu_ms', '-')} ms"
                f" + shared {row.get('pg_shared_cpu_ms', '-')} ms)",
                flush=True,
            )

        # The floor of any event-recording request in this service: the same route, key and session, a body the
        # validation refuses after authentication (no custody rules, no rows, no log): middleware, routing, the
        # worker thread, BEGIN, the key's two lookups, a problem answer.
        def refused_one() -> None:
            status, _ = API(base, "POST", "/v1/events", {"action": ""}, mkey)
            if status not in (400, 422):
                raise RuntimeError(f"floor request -> {status}")

        for _ in range(20):
            refused_one()
        bc.wait_for_quiet(5)
        with Profile(profile, server.pid, f"{db}-floor-1"):
            rows["floor_1"] = metered(server.pid, 1, seconds, refused_one, pg_name)
        row = rows["floor_1"]
        print(f"  floor (a refused body), 1 client: {row['per_s']:.0f}/s, CPU {row['server_cpu_ms']} ms", flush=True)
        leaves = bc.scalar(url, "SELECT count(*) FROM log_node WHERE level = 0")
        top = bc.scalar(url, 'SELECT coalesce(max("index"), -1) FROM log_node WHERE level = 0')
        events = bc.scalar(url, "SELECT count(*) FROM event")
        logged = bc.scalar(
            url, "SELECT count(DISTINCT event_id) FROM log_node WHERE level = 0 AND event_id IS NOT NULL"
        )
        size = bc.scalar(url, "SELECT tree_size FROM log_state")
        if not leaves == top + 1 == size or logged != events:
            raise RuntimeError(f"log not dense: {leaves} leaves, top {top}, size {size}, {logged} of {events} events")
        server.stop()

        minimal.start()

        def post() -> None:
            status, body = API(minimal.base, "POST", "/rows", {"n": 1})
            if status != 201:
                raise RuntimeError(f"minimal insert -> {status}: {body}")

        for _ in range(20):
            post()
        for clients in (1, CLIENTS):
            bc.wait_for_quiet(5)
            rows[f"minimal_{clients}"] = metered(minimal.pid, clients, seconds, post, pg_name)
            row = rows[f"minimal_{clients}"]
            print(
                f"  minimal insert, {clients} client(s): {row['per_s']:.0f}/s, CPU {row['server_cpu_ms']} ms each"
                f" (PostgreSQL {row.get('pg_backend_cpu_ms', '-')} ms)",
                flush=True,
            )

        # A second reference, not the goal's: the same insert as FastAPI's tutorial writes it (a def endpoint in the
        # thread pool, a Session from a yield dependency, the ORM's add, commit and refresh, a response model).
        def post_orm() -> None:
            status, body = API(minimal.base, "POST", "/orm-rows", {"n": 1})
            if status != 201 or body.get("n") != 1:
                raise RuntimeError(f"tutorial insert -> {status}: {body}")

        for _ in range(20):
            post_orm()
        bc.wait_for_quiet(5)
        rows["tutorial_1"] = metered(minimal.pid, 1, seconds, post_orm, pg_name)
        row = rows["tutorial_1"]
        print(
            f"  tutorial insert, 1 client: {row['per_s']:.0f}/s, CPU {row['server_cpu_ms']} ms each"
            f" (PostgreSQL {row.get('pg_backend_cpu_ms', '-')} ms)",
            flush=True,
        )
    for row in rows.values():
        row["per_s"] = round(row["per_s"], 1)
    return {
        "interleaved_ab": ab,
        "db": db,
        "workers": workers,
        "keep_alive": isinstance(API, KeptClient),
        **rows,
        "log_leaves": leaves,
        "single_vs_minimal": round(rows["events_1"]["per_s"] / rows["minimal_1"]["per_s"], 3),
        "single_vs_minimal_by_cpu": round(rows["minimal_1"]["server_cpu_ms"] / rows["events_1"]["server_cpu_ms"], 3),
        "single_vs_tutorial": round(rows["events_1"]["per_s"] / rows["tutorial_1"]["per_s"], 3),
        "single_vs_tutorial_by_cpu": round(rows["tutorial_1"]["server_cpu_ms"] / rows["events_1"]["server_cpu_ms"], 3),
        # with PostgreSQL's backends: all the CPU a request costs the host (on SQLite the same as by CPU)
        "single_vs_minimal_by_all_cpu": round(_all_cpu(rows["minimal_1"]) / _all_cpu(rows["events_1"]), 3),
        "single_vs_tutorial_by_all_cpu": round(_all_cpu(rows["tutorial_1"]) / _all_cpu(rows["events_1"]), 3),
        "clients_8_vs_1": round(rows["events_8"]["per_s"] / rows["events_1"]["per_s"], 3),
        "floor_vs_minimal": round(rows["floor_1"]["per_s"] / rows["minimal_1"]["per_s"], 3),
        "floor_vs_minimal_by_cpu": round(rows["minimal_1"]["server_cpu_ms"] / rows["floor_1"]["server_cpu_ms"], 3),
        **cpu_bound(rows, os.cpu_count() or 1),
        "load_average": list(os.getloadavg()),
    }


def run_against(
    db: str,
    against: Path,
    env: dict[str, str],
    workdir: Path,
    server: bc.Server,
    bursts: int,
    pg_name: str | None,
    shipments: Shipments,
) -> dict[str, Any]:
    """``--against DIR``: a second Passport server from another source tree on the same database, and the event and
    the floor request measured on both, interleaved (``interleaved``); CPU per request of each, B / A."""
    other_env = {**env, "PYTHONPATH": str(against.resolve())}
    port = bc.free_port()
    argv = [bc.PYTHON, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    other = bc.Server(
        "against", [*argv, "--no-access-log", "--log-level", "warning"], other_env, workdir, port, workdir / "b.log"
    )
    other.start()
    try:
        bases = {"A": server.base, "B": other.base}
        pids = {"A": server.pid, "B": other.pid}

        def ship(name: str) -> None:
            shipments.ship(API, bases[name])

        def refuse(name: str) -> None:
            status, _ = API(bases[name], "POST", "/v1/events", {"action": ""}, shipments.key)
            if status not in (400, 422):
                raise RuntimeError(f"floor request ({name}) -> {status}")

        for _ in range(20):
            ship("B")
            refuse("B")
        events = interleaved(pids, bursts, 1.0, ship, pg_name)
        floors = interleaved(pids, bursts, 1.0, refuse, pg_name)
    finally:
        other.stop()
    result = {
        "b_source": str(against),
        "bursts": bursts,
        "events": events,
        "floor": floors,
        "event_cpu_b_vs_a": round(events["B"]["server_cpu_ms"] / events["A"]["server_cpu_ms"], 3),
        "floor_cpu_b_vs_a": round(floors["B"]["server_cpu_ms"] / floors["A"]["server_cpu_ms"], 3),
    }
    print(
        f"  interleaved A/B ({bursts} x 1 s bursts each, 1 client): event CPU A {events['A']['server_cpu_ms']} ms"
        f" ({events['A']['requests']} requests), B {events['B']['server_cpu_ms']} ms ({events['B']['requests']}),"
        f" B/A {result['event_cpu_b_vs_a']}; floor A {floors['A']['server_cpu_ms']} ms, B"
        f" {floors['B']['server_cpu_ms']} ms, B/A {result['floor_cpu_b_vs_a']}"
        + (
            f"; PostgreSQL backend per event A {events['A']['pg_backend_cpu_ms']} ms,"
            f" B {events['B']['pg_backend_cpu_ms']} ms"
            if pg_name
            else ""
        ),
        flush=True,
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per measured step (default 8)")
    parser.add_argument("--units", type=int, default=20_000, help="units issued for the events (default 20000)")
    parser.add_argument("--workers", type=int, default=1, help="passport serve --workers (default 1)")
    parser.add_argument("--profile", type=Path, help="py-spy the server during each events step into DIR")
    parser.add_argument("--profile-gil", action="store_true", help="with --profile: py-spy --gil (no --native)")
    parser.add_argument("--source", help="run another source tree (e.g. a git archive of HEAD) as the service")
    parser.add_argument("--keep-alive", action="store_true", help="one persistent connection per client thread")
    parser.add_argument(
        "--against",
        type=Path,
        help="also run a second server from this source tree (B) on the same database, and measure the event and "
        "the floor on both servers in alternating 1 s bursts (interleaved A/B; --source or this checkout is A)",
    )
    parser.add_argument("--bursts", type=int, default=10, help="bursts per server for --against (default 10)")
    args = parser.parse_args(argv)
    global API, GIL_ONLY
    API = KeptClient() if args.keep_alive else bc.api
    GIL_ONLY = args.profile_gil
    if args.source:
        bc.use_source(args.source)
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info))
    print("client: one persistent connection per thread" if args.keep_alive else "client: a connection per request")
    results = []
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory(prefix="bench-single-") as tmp:
            results.append(
                run_db(db, args.seconds, args.units, Path(tmp), args.profile, args.workers, args.against, args.bursts)
            )
    table = [
        [
            r["db"],
            f"{r['events_1']['per_s']:.0f}",
            f"{r['events_8']['per_s']:.0f}",
            f"{r['minimal_1']['per_s']:.0f}",
            f"{r['minimal_8']['per_s']:.0f}",
            f"{r['single_vs_minimal']:.2f}",
            "yes" if r["single_vs_minimal"] >= 0.5 else "no",
            f"{r['events_1']['server_cpu_ms']:.2f} / {r['minimal_1']['server_cpu_ms']:.2f}",
            f"{r['single_vs_minimal_by_cpu']:.2f}",
            f"{r['clients_8_vs_1']:.2f}",
            f"{r['cpu_bound_8_vs_1']:.2f} ({r['cpu_ms_per_event_8']:.1f} ms)",
            ("yes" if r["clients_8_vs_1"] >= 2 else "no") if r["db"] == "postgresql" else "-",
            f"{r['floor_1']['server_cpu_ms']:.2f}",
            f"{r['floor_vs_minimal']:.2f} / {r['floor_vs_minimal_by_cpu']:.2f}",
            f"{r['tutorial_1']['server_cpu_ms']:.2f}",
            f"{r['single_vs_tutorial']:.2f} / {r['single_vs_tutorial_by_cpu']:.2f}",
            f"{r['single_vs_minimal_by_all_cpu']:.2f} / {r['single_vs_tutorial_by_all_cpu']:.2f}",
        ]
        for r in results
    ]
    headers = [
        "db",
        "events/s 1",
        "events/s 8",
        "minimal/s 1",
        "minimal/s 8",
        "1 vs minimal",
        ">= 0.5",
        "CPU ms/req (event / minimal)",
        "by CPU",
        "8 vs 1",
        "cpu-bound 8 vs 1 (all CPU/event at 8)",
        ">= 2 (PG)",
        "floor CPU ms",
        "floor vs minimal (rate / CPU)",
        "tutorial CPU ms",
        "1 vs tutorial (rate / CPU)",
        "by all CPU, with PG backends (vs minimal / tutorial)",
    ]
    print(bc.table(headers, table))
    print(f"load average after: {os.getloadavg()}")
    path = bc.write_result("single_events", {"machine": info, "code": bc.code_version(), "results": results})
    print(f"written to {path}")
    print(json.dumps(results)[:0], end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
