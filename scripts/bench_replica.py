#!/usr/bin/env python3
"""Benchmark reads on a streaming standby (PASSPORT_READ_DATABASE_URL) against reads on the primary, same run.

1. Start a PostgreSQL primary and a streaming standby of its own (tests/pg_standby.py: initdb + pg_basebackup from
   /usr/lib/postgresql/<newest>/bin, as the postgres user, on free ports), fill the primary with ``--units`` units
   through the service's issuance endpoint, and wait for the standby to replay them.
2. A writer load on the primary for the whole measurement: pgbench's TPC-B-like transactions (5 statements, one
   commit) at a fixed rate (``--write-rate`` per second, 2 clients) on a database of its own in the same cluster.
3. Rounds of two phases, alternated: ``passport serve`` with PASSPORT_READ_DATABASE_URL naming the standby, and the
   same without it (reads on the primary); each loaded with wrk replaying the sampled consumer scans (GET of a
   code's Digital Link, JSON). Per phase: scans/s, p50/p99, and the CPU of each PostgreSQL cluster.
4. Replica lag under that write load, two ways: the visibility lag (a heartbeat row committed on the primary every
   100 ms, and the time until a query on the standby sees it) and the bound the service itself reports on
   /healthz (``lag_seconds``, sampled every 100 ms), p50 and p99 of each.

Prints a table and the ratio standby/primary (scans/s); writes bench-results/bench_replica.json. Everything it
started is ended and deleted on the way out (Ctrl-C included).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_common as bc
from bench_verify import LUA, check_responses

from tests.pg_standby import StandbyPair, find_bin


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cluster_pids(data_dir: Path) -> list[int]:
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    return [postmaster, *bc.children(postmaster)]


def count_writes(pair: StandbyPair) -> int:
    """pgbench transactions committed so far (each adds one pgbench_history row)."""
    with pair.primary("writes") as conn:
        return int(conn.execute("SELECT count(*) FROM pgbench_history").fetchone()[0])  # type: ignore[index]


def health(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
        body: dict[str, Any] = json.load(answer)
        return body


class LagProbe:
    """In a thread: a heartbeat row committed on the primary every ``interval`` s, timed until the standby sees it;
    and the service's own bound from /healthz (when ``base`` is given)."""

    def __init__(self, pair: StandbyPair, database: str, base: str | None, interval: float = 0.1) -> None:
        self.pair, self.database, self.base, self.interval = pair, database, base, interval
        self.visible: list[float] = []
        self.reported: list[float] = []
        self.serving: list[bool] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LagProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with self.pair.primary(self.database) as primary, self.pair.standby(self.database) as standby:
            while not self._stop.is_set():
                started = time.perf_counter()
                (beat,) = primary.execute("INSERT INTO heartbeat (at) VALUES (now()) RETURNING id").fetchone()  # type: ignore[misc]
                committed = time.perf_counter()
                while standby.execute("SELECT 1 FROM heartbeat WHERE id = %s", (beat,)).fetchone() is None:
                    if time.perf_counter() - committed > 30:
                        break
                    time.sleep(0.001)
                self.visible.append(time.perf_counter() - committed)
                if self.base:  # asked in both phases, so both serve the same extra requests
                    for replica in health(self.base).get("replicas", [])[:1]:
                        self.serving.append(bool(replica["serving_reads"]))
                        if replica["lag_seconds"] is not None:
                            self.reported.append(float(replica["lag_seconds"]))
                self._stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))


def fill(pair: StandbyPair, env: dict[str, str], workdir: Path, units: int, sample: int) -> list[str]:
    bc.run_passport(["init"], env, workdir)
    filler = bc.passport_server("fill", env, workdir, workdir / "fill.log", "--no-access-log", "--log-level", "warning")
    try:
        filler.start()
        org = bc.create_manufacturer(env, workdir)
        gtin = bc.create_product(filler.base, org["api_key"])
        batch = bc.create_batch(filler.base, org["api_key"], gtin, "BENCH1")
        issued = bc.issue_ndjson(filler.base, org["api_key"], batch, units, sample_size=sample, seed=7)
    finally:
        filler.stop()
    pair.wait_caught_up(timeout=300)
    paths = []
    for uri in issued.sample:
        parts = urllib.parse.urlsplit(uri)
        paths.append(parts.path + ("?" + parts.query if parts.query else ""))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=50_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--duration", type=int, default=20, help="seconds of wrk per phase (default 20)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="standby/primary pairs of phases (default 2)")
    parser.add_argument("--write-rate", type=int, default=200, help="pgbench transactions/s on the primary")
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    args = parser.parse_args(argv)
    bc.interruptible()
    bin_dir = find_bin()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    wrk = bc.ensure_wrk()
    pair = StandbyPair(bin_dir)
    servers: list[bc.Server] = []
    writer: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {"phases": []}
    with tempfile.TemporaryDirectory(prefix="bench-replica-") as tmp:
        workdir = Path(tmp)
        try:
            pair.start()
            print(
                f"primary :{pair.primary_port}, standby :{pair.standby_port}; filling {args.units:,} units", flush=True
            )
            env = bc.passport_env(pair.primary_url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
            paths = fill(pair, env, workdir, args.units, args.sample)
            (workdir / "paths.txt").write_text("\n".join(paths) + "\n")
            (workdir / "replay.lua").write_text(LUA)
            with pair.primary("postgres") as conn:
                conn.execute("CREATE DATABASE writes")
            with pair.primary("writes") as conn:
                conn.execute("CREATE TABLE heartbeat (id bigserial PRIMARY KEY, at timestamptz NOT NULL)")
            pgbench = [str(bin_dir / "pgbench"), "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", "postgres"]
            subprocess.run([*pgbench, "-i", "-q", "-s", "5", "writes"], check=True, capture_output=True)
            pair.wait_caught_up(timeout=300)
            seconds = 24 * 3600  # until ended below: the phases' length depends on the machine's load
            writer = subprocess.Popen(
                [*pgbench, "-n", "-c", "2", "-j", "1", "-R", str(args.write_rate), "-T", str(seconds), "writes"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            print(f"writer load: pgbench TPC-B-like at {args.write_rate}/s on the primary", flush=True)
            for round_ in range(1, args.rounds + 1):
                for mode in ("standby", "primary"):
                    extra = {"PASSPORT_READ_DATABASE_URL": pair.standby_url} if mode == "standby" else {}
                    server = bc.passport_server(
                        f"reads on the {mode}",
                        {**env, **extra},
                        workdir,
                        workdir / f"serve-{mode}-{round_}.log",
                        "--no-access-log",
                        "--log-level",
                        "warning",
                    )
                    servers.append(server)
                    server.start()
                    check_responses(server.base, random.sample(paths, 5), expect_verdict=True)
                    if mode == "standby":
                        deadline = time.monotonic() + 30
                        while not health(server.base)["replicas"][0]["serving_reads"]:
                            if time.monotonic() > deadline:
                                raise RuntimeError(f"the standby never served reads: {health(server.base)}")
                            time.sleep(0.1)
                    bc.run_wrk(
                        wrk, server.base, workdir / "replay.lua", workdir / "paths.txt", args.warmup, args.connections
                    )
                    background = bc.wait_for_quiet(args.quiet_wait, threshold=0.6)
                    meters = {
                        "primary": bc.CpuMeter(lambda: cluster_pids(pair.primary_dir)),
                        "standby": bc.CpuMeter(lambda: cluster_pids(pair.standby_dir)),
                    }
                    for meter in meters.values():
                        meter.start()
                    before = server.cpu()
                    writes_before = count_writes(pair)
                    t0 = time.perf_counter()
                    with LagProbe(pair, "writes", server.base) as probe:
                        stats, _ = bc.run_wrk(
                            wrk, server.base, workdir / "replay.lua", workdir / "paths.txt", args.duration,
                            args.connections,
                        )  # fmt: skip
                    elapsed = time.perf_counter() - t0
                    after = server.cpu()
                    writes = count_writes(pair) - writes_before
                    server_cpu = after["server"] + after["children"] - before["server"] - before["children"]
                    phase = {
                        "round": round_,
                        "reads_on": mode,
                        "scans_per_s": stats["requests_per_s"],
                        "p50_ms": stats.get("p50_ms"),
                        "p99_ms": stats.get("p99_ms"),
                        "non_2xx": stats["non_2xx"],
                        "writes_per_s": round(writes / elapsed, 1),
                        "server_cpu_cores": round(server_cpu / elapsed, 2),
                        "server_cpu_us_per_scan": round(server_cpu / max(stats.get("requests", 1), 1) * 1e6),
                        "primary_cpu_cores": round(meters["primary"].stop() / elapsed, 2),
                        "standby_cpu_cores": round(meters["standby"].stop() / elapsed, 2),
                        "background_load_before_cores": round(background, 2),
                        "visible_lag_ms": [round(v * 1000, 2) for v in probe.visible],
                        "reported_lag_ms": [round(v * 1000, 1) for v in probe.reported],
                        "standby_serving_fraction": (
                            round(sum(probe.serving) / len(probe.serving), 3) if probe.serving else None
                        ),
                    }
                    results["phases"].append(phase)
                    print(
                        f"  round {round_}, reads on the {mode}: {phase['scans_per_s']:,.0f} scans/s, p50 "
                        f"{phase['p50_ms']:.2f} ms, p99 {phase['p99_ms']:.2f} ms, non-2xx {phase['non_2xx']}, "
                        f"{phase['writes_per_s']} writes/s; CPU "
                        f"server {phase['server_cpu_cores']}, primary {phase['primary_cpu_cores']}, standby "
                        f"{phase['standby_cpu_cores']} cores",
                        flush=True,
                    )
                    server.stop()
        finally:
            for server in servers:
                server.stop()
            if writer is not None:
                writer.terminate()
                writer.wait(timeout=30)
            pair.stop()
    phases = results["phases"]
    on = {mode: [p for p in phases if p["reads_on"] == mode] for mode in ("standby", "primary")}
    mean = {mode: sum(p["scans_per_s"] for p in ps) / len(ps) for mode, ps in on.items() if ps}
    visible = [v for p in on["standby"] for v in p["visible_lag_ms"]]
    reported = [v for p in on["standby"] for v in p["reported_lag_ms"]]
    summary = {
        "ratio_standby_over_primary": round(mean["standby"] / mean["primary"], 3),
        "scans_per_s": {mode: round(value) for mode, value in mean.items()},
        "primary_cpu_cores": {
            mode: round(sum(p["primary_cpu_cores"] for p in ps) / len(ps), 2) for mode, ps in on.items()
        },
        "server_cpu_us_per_scan": {
            mode: round(sum(p["server_cpu_us_per_scan"] for p in ps) / len(ps)) for mode, ps in on.items()
        },
        "visible_lag_ms": {"p50": percentile(visible, 50), "p99": percentile(visible, 99), "n": len(visible)},
        "reported_lag_ms": {"p50": percentile(reported, 50), "p99": percentile(reported, 99), "n": len(reported)},
        "write_rate_per_s": args.write_rate,
        "writes_per_s_measured": [p["writes_per_s"] for p in phases],
    }
    results["summary"] = summary
    print(
        bc.table(
            ["reads on", "scans/s (mean)", "server CPU us/scan", "primary CPU cores"],
            [
                [
                    mode,
                    f"{summary['scans_per_s'][mode]:,}",
                    summary["server_cpu_us_per_scan"][mode],
                    summary["primary_cpu_cores"][mode],
                ]
                for mode in mean
            ],
        )
    )
    print(f"ratio standby / primary (scans/s, same run): {summary['ratio_standby_over_primary']}")
    print(f"replica lag under {args.write_rate} writes/s: visible p50 {summary['visible_lag_ms']['p50']} ms, "
          f"p99 {summary['visible_lag_ms']['p99']} ms; /healthz bound p50 {summary['reported_lag_ms']['p50']} ms, "
          f"p99 {summary['reported_lag_ms']['p99']} ms")  # fmt: skip
    path = bc.write_result("bench_replica", {"machine": info, "code": bc.code_version(), "args": vars(args), **results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
