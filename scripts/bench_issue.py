#!/usr/bin/env python3
"""Benchmark bulk issuance end to end: POST /v1/batches/{id}/codes {"count": N}, streamed as NDJSON.

For each database (SQLite file in a temporary directory, PostgreSQL database ``bench_issue``), on a fresh database:
``passport init``, ``passport serve`` (1 uvicorn worker, signing pool of one process per core), a manufacturer
(``passport orgs create --licence drug_manufacturing``), a product and a batch through the API, a 10,000-code warm-up
issuance on another batch (it starts the signing pool), then the measured issuance, received by curl and counted line
by line here. The unit count in the database is checked against N afterwards.

Around the measured issuance, raw single-core Ed25519 signing of the same payloads (the GS1 element strings
issuance signs, fresh serials, one thread) is timed for libsodium and OpenSSL, and the end-to-end rate is reported
as a ratio of the faster one (libsodium, which the service signs with). The CPU of every process of the issuance
(server, signing workers, PostgreSQL, client) per code is also set against the raw CPU time of one signature.
Peak memory (VmHWM) of the server process and of its children (the signing workers) is read for N/10 and N codes,
each on its own server and database, to show that memory does not grow with the batch size.

Prints tables and writes bench-results/bench_issue.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc

WARMUP = 10_000


LOT = "BENCH1"
EXPIRY = "291231"  # YYMMDD: the same length as the batch's (the signed message is the same size)


def payloads(count: int, gtin: str) -> list[bytes]:
    """The messages issuance signs: ``01{gtin}21{serial}<GS>10{lot}<GS>17{expiry}`` with fresh random serials."""
    from app.domain.identifiers import serials_from_random
    from app.domain.signing import signed_message

    serials = serials_from_random(os.urandom(count * 12), count)
    return [signed_message(gtin, s, LOT, EXPIRY) for s in serials]


def raw_sign_rates(messages: int, gtin: str) -> dict[str, dict[str, float]]:
    """Ed25519 signs per second on one thread of this process, for each library in the venv, on the payloads
    issuance signs: by the wall clock (what the end-to-end rate is compared with) and by CPU time (the rate of one
    whole core, whatever else runs on the machine)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from nacl.bindings import crypto_sign, crypto_sign_seed_keypair

    seed = os.urandom(32)
    _, secret = crypto_sign_seed_keypair(seed)
    openssl = Ed25519PrivateKey.from_private_bytes(seed).sign
    signers = {"libsodium": lambda m: crypto_sign(m, secret), "openssl": openssl}
    batch = payloads(messages, gtin)
    rates = {}
    for name, sign in signers.items():
        for m in batch[:500]:
            sign(m)
        wall, cpu = time.perf_counter(), time.process_time()
        for m in batch:
            sign(m)
        rates[name] = {
            "wall": messages / (time.perf_counter() - wall),
            "cpu": messages / max(time.process_time() - cpu, 1e-9),
        }
    return rates


def reference(rates: dict[str, dict[str, float]], clock: str) -> float:
    """The raw single-core rate issuance is measured against: the fastest library's (libsodium, which the
    service signs with; were OpenSSL faster on some machine, its rate would be the bar)."""
    return max(r[clock] for r in rates.values())


def app_sign_rate(count: int, gtin: str) -> float:
    """The service's own signing function (message building + Ed25519 + base64), one core, by CPU time."""
    from app.domain.identifiers import serials_from_random
    from app.domain.signing import sign_serials

    seed = os.urandom(32)
    serials = serials_from_random(os.urandom(count * 12), count)
    sign_serials(seed, 1, gtin, LOT, EXPIRY, serials[:500])
    start = time.process_time()
    sign_serials(seed, 1, gtin, LOT, EXPIRY, serials)
    return count / (time.process_time() - start)


def _backends(database: str) -> list[int]:
    """PostgreSQL backends connected to ``database`` (not the server's shared background processes)."""
    return [pid for pid in bc.postgres_pids(database) if f" {database} " in bc.cmdline(pid)]


def run_once(db: str, count: int, workdir: Path, sign_messages: int, quiet_wait: float) -> dict[str, Any]:
    """One fresh database, one server, warm-up then one measured issuance of ``count`` codes."""
    pg_name = "bench_issue"
    url = bc.db_url(db, workdir, pg_name)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    log = workdir / f"server-{db}-{count}.log"
    server = bc.passport_server(f"passport serve ({db})", env, workdir, log, quiet=True)
    with bc.serving(server, db, pg_name, f"server log ({log})"):
        bc.run_passport(["init"], env, workdir)
        server.start()
        org = bc.create_manufacturer(env, workdir)
        key = org["api_key"]
        gtin = bc.create_product(server.base, key)
        warm_batch = bc.create_batch(server.base, key, gtin, "WARMUP")
        batch = bc.create_batch(server.base, key, gtin, "BENCH1")

        warm = bc.issue_ndjson(server.base, key, warm_batch, WARMUP)
        if warm.lines != WARMUP:
            raise RuntimeError(f"warm-up returned {warm.lines} lines, expected {WARMUP}")
        memory_idle = server.memory()

        background = bc.wait_for_quiet(quiet_wait)
        raw_before = raw_sign_rates(sign_messages, gtin)
        db_meter = bc.CpuMeter(lambda: bc.postgres_pids(pg_name) if db == "postgresql" else [])
        # The backends of this database alone: the background processes (WAL writer, checkpointer...) also work
        # for the other databases of a shared server.
        own_meter = bc.CpuMeter(lambda: _backends(pg_name) if db == "postgresql" else [])
        db_meter.start()
        own_meter.start()
        cpu_before, jiffies, own_before = server.cpu(), bc.cpu_jiffies(), os.times()
        result = bc.issue_ndjson(server.base, key, batch, count)
        cpu_after, own_after = server.cpu(), os.times()
        db_cpu = db_meter.stop()
        backend_cpu = own_meter.stop()
        busy = bc.busy_cores(jiffies, bc.cpu_jiffies(), result.seconds)
        memory = server.memory()
        raw_after = raw_sign_rates(sign_messages, gtin)

        if result.lines != count:
            raise RuntimeError(f"stream had {result.lines} lines, expected {count}")
        in_db = bc.count_units(url, batch)
        if in_db != count:
            raise RuntimeError(f"database has {in_db} units for batch {batch}, expected {count}")
        if '"uri":"' not in result.first_line or "8030=" not in result.first_line:
            raise RuntimeError(f"unexpected first line: {result.first_line[:300]}")
        db_bytes = bc.database_size(url)

    rate = count / result.seconds
    raw = (reference(raw_before, "wall") + reference(raw_after, "wall")) / 2
    raw_cpu = (reference(raw_before, "cpu") + reference(raw_after, "cpu")) / 2
    cores = os.cpu_count() or 1
    server_cpu = cpu_after["server"] - cpu_before["server"]
    workers_cpu = cpu_after["children"] - cpu_before["children"]
    client_cpu = (
        own_after.children_user
        + own_after.children_system
        + own_after.user
        + own_after.system
        - own_before.children_user
        - own_before.children_system
        - own_before.user
        - own_before.system
    )
    total_cpu = server_cpu + workers_cpu + client_cpu + db_cpu
    own_cpu = total_cpu - db_cpu + backend_cpu  # without PostgreSQL's shared background processes
    other = busy - total_cpu / result.seconds
    return {
        "db": db,
        "count": count,
        "seconds": round(result.seconds, 3),
        "codes_per_s": round(rate),
        "stream_bytes": result.bytes,
        "lines": result.lines,
        "units_in_db": in_db,
        "db_bytes": db_bytes,
        "warmup": {"count": WARMUP, "seconds": round(warm.seconds, 3)},
        "raw_sign_per_s_before": round(reference(raw_before, "wall")),
        "raw_sign_per_s_after": round(reference(raw_after, "wall")),
        "raw_sign_per_s_by_library": {
            "before": {k: {c: round(v) for c, v in r.items()} for k, r in raw_before.items()},
            "after": {k: {c: round(v) for c, v in r.items()} for k, r in raw_after.items()},
        },
        "ratio_end_to_end_over_raw": round(rate / raw, 3),
        # The same ratio against each library's raw rate (OpenSSL's was the bar before the service signed with
        # libsodium).
        "ratio_by_library": {
            name: round(rate / ((raw_before[name]["wall"] + raw_after[name]["wall"]) / 2), 3) for name in raw_before
        },
        # CPU of every process of the issuance per code, against one core's raw signature (by CPU time): on a
        # machine with nothing else running, e2e/raw could reach at most cores x this ratio.
        "cpu_us_per_code": round(total_cpu / count * 1e6, 2),
        "raw_sign_cpu_us": round(1e6 / raw_cpu, 2),
        "cpu_bound_ratio": round(cores * (1e6 / raw_cpu) / (total_cpu / count * 1e6), 3),
        # The same without PostgreSQL's background processes (they also serve other databases on a shared host,
        # and on an idle one they would still write this issuance's WAL: the truth lies between the two).
        "cpu_bound_ratio_backends_only": round(cores * (1e6 / raw_cpu) / (own_cpu / count * 1e6), 3),
        "cpu_seconds": {
            "server": round(server_cpu, 2),
            "signing_workers": round(workers_cpu, 2),
            "client_curl_and_reader": round(client_cpu, 2),
            "postgresql": round(db_cpu, 2),
            "postgresql_backends": round(backend_cpu, 2),
        },
        "machine_busy_cores": round(busy, 2),
        "other_load_cores": round(max(other, 0.0), 2),
        "background_load_before_cores": round(background, 2),
        "memory_after_warmup": memory_idle,
        "memory": memory,
        "first_line": result.first_line,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark streamed bulk issuance (codes/s end to end, vs raw Ed25519; peak memory at N/10 and N).",
    )
    parser.add_argument("--count", type=int, default=1_000_000, help="codes in the measured batch (default 1000000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both", help="default: both")
    parser.add_argument(
        "--sign-messages",
        type=int,
        default=30_000,
        help="messages for the raw single-core Ed25519 measurement (default 30000)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="wait up to this many seconds for other load on the machine to end (default 120)",
    )
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="run the service from this source tree instead of the installed one "
        "(e.g. a commit exported with: git archive HEAD | tar -x -C DIR)",
    )
    parser.add_argument("--output", metavar="NAME", help="write bench-results/NAME.json (default: bench_issue)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (SQLite file, logs)")
    args = parser.parse_args(argv)
    if args.count < 10:
        parser.error("--count must be at least 10")

    bc.interruptible()
    if args.source:
        bc.use_source(args.source)
    info = bc.machine()
    print(bc.machine_line(info))
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    probe = "09506000134352"  # a GTIN of the same length as the benchmark's
    app_rate = app_sign_rate(args.sign_messages, probe)
    rates = raw_sign_rates(args.sign_messages, probe)
    print(
        f"one core, by CPU time: the service's sign_serials() {bc.fmt_int(app_rate)} codes/s; raw Ed25519 "
        + ", ".join(f"{name} {bc.fmt_int(r['cpu'])}/s" for name, r in rates.items())
        + " (raw measured again around each run below; the bar is the fastest library's)\n"
    )

    runs: list[dict[str, Any]] = []
    for db in dbs:
        for count in (args.count // 10, args.count):
            with bc.scratch_dir(f"bench-issue-{db}-", args.keep) as workdir:
                print(f"[{db}] issuing {count:,} codes ...", flush=True)
                run = run_once(db, count, workdir, args.sign_messages, args.quiet_wait)
                runs.append(run)
                print(
                    f"[{db}] {count:,} codes in {run['seconds']:.2f} s = {bc.fmt_int(run['codes_per_s'])} codes/s",
                    flush=True,
                )

    print()
    print(bc.machine_line(info))
    print(
        f"\nEnd-to-end issuance (POST /v1/batches/{{id}}/codes, NDJSON, curl client; 1 uvicorn worker, "
        f"signing pool = {info['cores']} processes)"
    )
    rows = []
    for r in runs:
        rows.append(
            [
                r["db"],
                f"{r['count']:,}",
                f"{r['seconds']:.2f}",
                bc.fmt_int(r["codes_per_s"]),
                bc.fmt_int(r["raw_sign_per_s_before"]),
                bc.fmt_int(r["raw_sign_per_s_after"]),
                f"{r['ratio_end_to_end_over_raw']:.2f}",
                f"{r['ratio_by_library']['openssl']:.2f}",
                f"{r['cpu_seconds']['server']:.1f} / {r['cpu_seconds']['signing_workers']:.1f} / "
                f"{r['cpu_seconds']['postgresql']:.1f} / {r['cpu_seconds']['client_curl_and_reader']:.1f}",
                f"{r['cpu_us_per_code']:.1f} / {r['raw_sign_cpu_us']:.1f}",
                f"{r['cpu_bound_ratio']:.2f} ({r['cpu_bound_ratio_backends_only']:.2f})",
                f"{r['other_load_cores']:.2f}",
                f"{r['units_in_db']:,}",
            ]
        )
    print(
        bc.table(
            [
                "db",
                "codes",
                "seconds",
                "codes/s",
                "raw sign/s before",
                "raw sign/s after",
                "e2e/raw",
                "e2e/openssl",
                "CPU s server/workers/pg/client",
                "CPU µs/code / raw µs",
                "cpu-bound (w/o pg bg)",
                "other load",
                "units in DB",
            ],
            rows,
        )
    )
    print(
        "\ngoal: e2e/raw >= 1.0 (raw = the fastest library's Ed25519 signs/s on one core, same payloads, by the "
        "wall clock around the run; the pool signs on every core). 'other load' = cores busy with processes that are "
        "not part of this benchmark (a shared machine), averaged over the run. cpu-bound = cores x raw CPU per sign / "
        "CPU of every process of the issuance per code: the most e2e/raw could be with nothing else running (in "
        "brackets: without PostgreSQL's background processes, which a shared server runs for other databases too). "
        "e2e/openssl: the same rate against OpenSSL's raw rate (the bar before the service signed with libsodium)"
    )

    print("\nPeak memory (VmHWM), MiB")
    rows = []
    for r in runs:
        mem = r["memory"]
        rows.append(
            [
                r["db"],
                f"{r['count']:,}",
                f"{r['memory_after_warmup']['server_peak_rss_kib'] / 1024:.0f}",
                f"{mem['server_peak_rss_kib'] / 1024:.0f}",
                f"{mem['max_child_peak_rss_kib'] / 1024:.0f}",
                str(len([c for c in mem["children"] if "resource_tracker" not in c["cmd"]])),
            ]
        )
    print(bc.table(["db", "codes", "server after warm-up", "server peak", "max worker peak", "workers"], rows))

    path = bc.write_result(
        args.output or "bench_issue",
        {
            "benchmark": "bench_issue",
            "machine": info,
            "args": vars(args),
            "code": bc.code_version(),
            "service_sign_serials_per_s_one_core": round(app_rate),
            "runs": runs,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    bc.run_main(main)
