"""Benchmark of the tamper-evident log (issue: Merkle log).

1. Append cost: custody events per second recorded through the service layer, each in its own transaction as
   a request would be, with the log (event + leaf + subtree hashes) and without it (the append replaced by a
   no-op), alternating in rounds in the same run. Goal: the log costs under 20 %.
2. Proof latency: inclusion (and consistency) proofs read from a log of 10^6 leaves, through the same service
   functions the API calls. Goal: under 5 ms per inclusion proof.

    .venv/bin/python scripts/bench_log.py [--events 2000] [--leaves 1000000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import machine, machine_line, pg_drop, pg_recreate, table, write_result
from sqlalchemy import text

from app.cli import init
from app.config import Settings
from app.domain import merkle
from app.services import catalog, custody, log, orgs
from app.services.clock import today, utcnow
from app.services.issuance import CodeRun, check_issuance, issue_codes
from app.services.orgs import Principal
from app.services.runtime import Runtime
from app.services.signing_pool import SigningPool

MASTER = base64.b64encode(os.urandom(32)).decode()


def settings_for(url: str) -> Settings:
    return Settings(database_url=url, master_key=MASTER, verify_rate_limit="0", checkpoint_interval_seconds=0)


def fresh_database(kind: str, name: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{workdir / (name + '.db')}"
    return pg_recreate(name).replace("postgresql://", "postgresql+psycopg://")


def seed_units(runtime: Runtime, count: int) -> tuple[Principal, Principal, list[str]]:
    with runtime.sessions.begin() as session:
        maker_org, _ = orgs.create_org(
            session, name="Bench maker", role="manufacturer", licences=["drug_manufacturing"]
        )
        dist_org, _ = orgs.create_org(
            session, name="Bench distributor", role="distributor", licences=["drug_wholesale"]
        )
        maker = Principal(maker_org.id, maker_org.name, "manufacturer", frozenset({"drug_manufacturing"}))
        dist = Principal(dist_org.id, dist_org.name, "distributor", frozenset({"drug_wholesale"}))
        catalog.create_product(session, maker, gtin="09506000134352", name="Bench", category="drug_otc")
        batch = catalog.create_batch(
            session,
            maker,
            gtin="09506000134352",
            lot="LOG1",
            manufactured_on=today() - timedelta(days=1),
            expires_on=today() + timedelta(days=700),
        )
        facts = check_issuance(session, maker, batch.id, count, count)
    runs = issue_codes(runtime.engine, runtime.keyring, runtime.pool, facts, count)
    next(runs)
    codes = [f"(01){facts.gtin}(21){s}" for run in runs if isinstance(run, CodeRun) for s in run.serials]
    return maker, dist, codes


def ship_each(runtime: Runtime, maker: Principal, dist: Principal, codes: list[str]) -> float:
    """Events per second, one event per transaction, as one request after another would record them."""
    policy = custody.Policy(utcnow(), timedelta(days=10), timedelta(seconds=0))
    start = time.perf_counter()
    for code in codes:
        with runtime.sessions.begin() as session:
            outcome = custody.record_events(
                session, maker, [custody.EventIn("ship", [code], to=dist.org_id)], atomic=True, policy=policy
            )
            assert outcome.error is None, outcome.error
    return len(codes) / (time.perf_counter() - start)


def append_benchmark(kind: str, workdir: Path, count: int, rounds: int) -> dict[str, object]:
    url = fresh_database(kind, "bench_log_append", workdir)
    settings = settings_for(url)
    init(settings)
    runtime = Runtime.start(settings)
    runtime.pool = SigningPool(1)
    real_append = log.append
    try:
        maker, dist, codes = seed_units(runtime, count)
        warm = codes[:50]
        ship_each(runtime, maker, dist, warm)
        rest = codes[50:]
        size = len(rest) // (2 * rounds)
        with_log: list[float] = []
        without_log: list[float] = []
        for r in range(rounds):
            chunk_a = rest[2 * r * size : (2 * r + 1) * size]
            chunk_b = rest[(2 * r + 1) * size : (2 * r + 2) * size]
            with_log.append(ship_each(runtime, maker, dist, chunk_a))
            log.append = lambda *_args, **_kw: None  # type: ignore[assignment]
            try:
                without_log.append(ship_each(runtime, maker, dist, chunk_b))
            finally:
                log.append = real_append  # type: ignore[assignment]
        with runtime.engine.connect() as conn:
            size_now = conn.execute(text("SELECT tree_size FROM log_state")).scalar_one()
    finally:
        log.append = real_append  # type: ignore[assignment]
        runtime.close()
        if kind == "postgresql":
            pg_drop("bench_log_append")
    a, b = statistics.median(with_log), statistics.median(without_log)
    return {
        "db": kind,
        "events_per_round": size,
        "rounds": rounds,
        "with_log_per_s": round(a, 1),
        "without_log_per_s": round(b, 1),
        "log_cost": round(1 - a / b, 3),
        "leaves": size_now,
    }


def proof_benchmark(kind: str, workdir: Path, leaves: int, samples: int) -> dict[str, object]:
    url = fresh_database(kind, "bench_log_proofs", workdir)
    settings = settings_for(url)
    init(settings)
    runtime = Runtime.start(settings)
    try:
        started = time.perf_counter()
        nodes: dict[tuple[int, int], bytes] = {}
        rows: list[tuple[int, int, bytes]] = []
        rng = random.Random(42)
        for index in range(leaves):
            leaf = merkle.leaf_hash(rng.randbytes(64))
            for (level, position), value in merkle.completed_nodes(index, leaf, nodes):
                nodes[(level, position)] = value
                rows.append((level, position, value))
            # keep only the complete subtrees along the right edge (memory stays flat)
            if index % 65536 == 65535:
                keep = merkle.root_nodes(index + 1)  # the right edge: all a later append can still read
                nodes = {k: v for k, v in nodes.items() if k in keep}
        with runtime.engine.begin() as conn:
            if kind == "postgresql":
                driver = conn.connection.driver_connection
                with driver.cursor() as cursor, cursor.copy('COPY log_node (level, "index", hash) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                conn.exec_driver_sql('INSERT INTO log_node (level, "index", hash) VALUES (?, ?, ?)', rows)
            conn.execute(text("UPDATE log_state SET tree_size = :n"), {"n": leaves})
        fill_seconds = time.perf_counter() - started
        del rows, nodes
        timings: list[float] = []
        consistency: list[float] = []
        with runtime.engine.connect() as conn:
            root = log.root_hash(conn, leaves)
            for _ in range(samples):
                index = rng.randrange(leaves)
                t0 = time.perf_counter()
                path = log.inclusion_proof(conn, index, leaves)
                timings.append((time.perf_counter() - t0) * 1000)
                assert len(path) == merkle.inclusion_nodes(index, leaves).__len__() or path
            leaf0 = conn.execute(text('SELECT hash FROM log_node WHERE level = 0 AND "index" = 0')).scalar_one()
            merkle.verify_inclusion(bytes(leaf0), 0, leaves, log.inclusion_proof(conn, 0, leaves), root)
            for _ in range(samples // 4):
                first = rng.randrange(1, leaves)
                t0 = time.perf_counter()
                log.consistency_proof(conn, first, leaves)
                consistency.append((time.perf_counter() - t0) * 1000)
    finally:
        runtime.close()
        if kind == "postgresql":
            pg_drop("bench_log_proofs")
    timings.sort()
    consistency.sort()
    return {
        "db": kind,
        "leaves": leaves,
        "fill_seconds": round(fill_seconds, 1),
        "inclusion_ms_p50": round(statistics.median(timings), 3),
        "inclusion_ms_p99": round(timings[int(len(timings) * 0.99) - 1], 3),
        "consistency_ms_p50": round(statistics.median(consistency), 3),
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events per database for the append benchmark")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    info = machine()
    print(machine_line(info))
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    appends, proofs = [], []
    with tempfile.TemporaryDirectory(prefix="bench-log-") as tmp:
        for kind in kinds:
            appends.append(append_benchmark(kind, Path(tmp), args.events + 50, args.rounds))
            proofs.append(proof_benchmark(kind, Path(tmp), args.leaves, args.proofs))
    print()
    print("Append: custody events/s, one event per transaction (median of rounds, alternating)")
    print(
        table(
            ["db", "with log", "without log", "log cost", "goal"],
            [[a["db"], a["with_log_per_s"], a["without_log_per_s"], f"{a['log_cost']:.1%}", "< 20 %"] for a in appends],
        )
    )
    print()
    print(f"Proofs from a log of {args.leaves:,} leaves")
    print(
        table(
            ["db", "inclusion p50 ms", "inclusion p99 ms", "consistency p50 ms", "goal"],
            [
                [p["db"], p["inclusion_ms_p50"], p["inclusion_ms_p99"], p["consistency_ms_p50"], "< 5 ms"]
                for p in proofs
            ],
        )
    )
    write_result("log", {"machine": info, "append": appends, "proofs": proofs, "args": vars(args)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
