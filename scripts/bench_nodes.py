#!/usr/bin/env python3
"""Benchmark two API nodes against one (issue 19), and the figures of the capacity model in docs/production.md.

1. A fresh PostgreSQL database ``bench_nodes`` with ``--units`` units issued through the service (scripts/
   bench_verify.py's fill), then ``--history`` more units moved through five custody events each (ship, receive,
   ship, receive, sell: bulk events of scripts/bench_custody.py). The tables' sizes (pg_total_relation_size, the
   scan log's partitions together) are read after each step: bytes per issued unit, per unit with a journey.
2. Public verification load (wrk, the replay script of bench_verify, ``--connections`` in all) against ONE
   ``passport serve`` process and against TWO on different ports sharing the database, alternating one, two,
   one, two (the machine is shared and noisy): in both layouts two wrk processes of half the connections each
   load the node(s), so the clients cost the same. Scans/s, p99, the servers' CPU (with their scan writers) and
   PostgreSQL's CPU per scan; then the bytes per recorded scan.

Prints a table and the ratio two/one, read against the limit measured in the same run: the ratio of the
servers' CPU two/one (efficiency = the first over the second); writes bench-results/bench_nodes.json. PostgreSQL only.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc
import bench_verify as bv

DB = "bench_nodes"


def sizes(url: str) -> dict[str, int]:
    """Bytes per table (heap, indexes, TOAST); the scan log's partitions are summed as ``scan``."""
    with bc.pg_connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
        ).fetchall()
    out: dict[str, int] = {}
    for name, size in rows:
        key = "scan" if name == "scan" or name.startswith("scan_y") or name == "scan_default" else name
        out[key] = out.get(key, 0) + int(size)
    return out


def _server(env: dict[str, str], workdir: Path, name: str) -> bc.Server:
    return bc.passport_server(
        name, env, workdir, workdir / f"{name.replace(' ', '-')}.log", "--no-access-log", "--log-level", "warning"
    )


def phase(
    layout: str,
    env: dict[str, str],
    workdir: Path,
    wrk: str,
    script: Path,
    paths_file: Path,
    paths: list[str],
    args: argparse.Namespace,
    servers: list[bc.Server],
) -> dict[str, Any]:
    nodes = [_server(env, workdir, f"node {i + 1} ({layout})") for i in range(1 if layout == "one" else 2)]
    servers.extend(nodes)
    try:
        for node in nodes:
            node.start()
            bv.check_responses(node.base, random.sample(paths, 5), True)
        targets = [nodes[0].base, nodes[-1].base]  # two wrk processes: both on the one node, or one per node

        def load(seconds: int) -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = [{}, {}]

            def run(i: int) -> None:
                results[i] = bc.run_wrk(wrk, targets[i], script, paths_file, seconds, args.connections // 2, 1)[0]

            threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return results

        load(args.warmup)
        background = bc.wait_for_quiet(args.quiet_wait)
        db_meter = bc.CpuMeter(lambda: bc.postgres_pids(DB))
        db_meter.start()
        before = [n.cpu() for n in nodes]
        jiffies, t0 = bc.cpu_jiffies(), time.perf_counter()
        runs = load(args.duration)
        elapsed = time.perf_counter() - t0
        db_cpu = db_meter.stop()
        busy = bc.busy_cores(jiffies, bc.cpu_jiffies(), elapsed)
        after = [n.cpu() for n in nodes]
        server_cpu = sum(
            (a["server"] - b["server"]) + (a["children"] - b["children"]) for a, b in zip(after, before, strict=True)
        )
        requests = sum(r.get("requests", 0) for r in runs)
        result = {
            "layout": layout,
            "scans_per_s": round(sum(r["requests_per_s"] for r in runs)),
            "p99_ms": max(r.get("p99_ms", 0.0) for r in runs),
            "non_2xx": sum(r.get("non_2xx", 0) for r in runs),
            "server_cpu_cores": round(server_cpu / elapsed, 2),
            "postgresql_cpu_cores": round(db_cpu / elapsed, 2),
            "machine_busy_cores": round(busy, 2),
            "background_load_before_cores": round(background, 2),
            "server_cpu_us_per_scan": round(server_cpu / max(requests, 1) * 1e6),
            "postgresql_cpu_us_per_scan": round(db_cpu / max(requests, 1) * 1e6),
        }
        print(
            f"  {layout}: {result['scans_per_s']:,} scans/s, p99 {result['p99_ms']:.1f} ms, servers "
            f"{result['server_cpu_cores']} cores, PostgreSQL {result['postgresql_cpu_cores']} cores, "
            f"machine {result['machine_busy_cores']} busy",
            flush=True,
        )
        return result
    finally:
        for node in nodes:
            node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Two passport serve nodes against one, on one PostgreSQL.")
    parser.add_argument("--units", type=int, default=100_000, help="units issued (default 100000)")
    parser.add_argument("--history", type=int, default=10_000, help="units with five custody events (default 10000)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per phase (default 15)")
    parser.add_argument("--rounds", type=int, default=2, help="one/two pairs, alternating (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections in all (default 64)")
    parser.add_argument("--sample", type=int, default=20_000, help="URIs kept for replay (default 20000)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unreported load per phase (default 3)")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait for other load to end (default 30 s)")
    parser.add_argument("--keep", action="store_true", help="keep the directory and the database bench_nodes")
    args = parser.parse_args(argv)
    args.db = "postgresql"
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    wrk = bc.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    servers: list[bc.Server] = []
    url = bc.pg_recreate(DB)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    out: dict[str, Any] = {"machine": info, "code": bc.code_version(), "args": vars(args)}
    try:
        bc.run_passport(["init"], env, workdir)
        empty = sizes(url)
        paths, _ = bv.fill(args, env, url, workdir, servers)
        issued = sizes(url)
        bv.prepare_history(args, env, workdir, servers)
        journeyed = sizes(url)
        per_issued = (sum(issued.values()) - sum(empty.values())) / args.units
        per_journey = (sum(journeyed.values()) - sum(issued.values())) / args.history
        out["bytes"] = {"empty": empty, "issued": issued, "with_history": journeyed}
        print(f"  bytes per issued unit {per_issued:,.0f}; per unit issued and moved by 5 events {per_journey:,.0f}")
        paths_file = workdir / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        script = workdir / "replay.lua"
        script.write_text(bv.LUA)
        bc.empty_table(url, "scan")
        phases = []
        for _ in range(args.rounds):
            for layout in ("one", "two"):
                print(f"loading {layout} node(s) with wrk ({args.connections} connections, {args.duration} s) ...")
                phases.append(phase(layout, env, workdir, wrk, script, paths_file, paths, args, servers))
        scanned = bc.count_rows(url, "scan")
        scan_bytes = sizes(url)["scan"] - issued.get("scan", 0)
        out["phases"] = phases
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            bc.pg_drop(DB)
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} and the database {DB}")

    one = statistics.mean(p["scans_per_s"] for p in phases if p["layout"] == "one")
    two = statistics.mean(p["scans_per_s"] for p in phases if p["layout"] == "two")
    # The limit, measured in the same run: how much more server CPU the two nodes got than the one. Were nothing
    # lost to sharing the primary (locks, connections, the scan log), scans/s would grow by exactly that much; on a
    # quiet machine with free cores it is close to 2, on a saturated one it is the scheduler's share of two processes.
    cpu_one = statistics.mean(p["server_cpu_cores"] for p in phases if p["layout"] == "one")
    cpu_two = statistics.mean(p["server_cpu_cores"] for p in phases if p["layout"] == "two")
    limit = cpu_two / cpu_one
    per_core = statistics.mean(1e6 / p["server_cpu_us_per_scan"] for p in phases)
    out.update(
        ratio_two_over_one=round(two / one, 2),
        server_cpu_two_over_one=round(limit, 2),
        efficiency=round(two / one / limit, 2),
        scans_per_s_per_server_core=round(per_core),
        postgresql_cpu_us_per_scan=round(statistics.mean(p["postgresql_cpu_us_per_scan"] for p in phases)),
        bytes_per_issued_unit=round(per_issued),
        bytes_per_unit_with_five_events=round(per_journey),
        scans_recorded=scanned,
        bytes_per_scan=round(scan_bytes / max(scanned, 1)),
    )
    print()
    print(bc.machine_line(info))
    print(
        bc.table(
            ["layout", "scans/s", "p99 ms", "server cores", "PostgreSQL cores", "machine busy"],
            [
                [
                    p["layout"],
                    f"{p['scans_per_s']:,}",
                    p["p99_ms"],
                    p["server_cpu_cores"],
                    p["postgresql_cpu_cores"],
                    p["machine_busy_cores"],
                ]
                for p in phases
            ],
        )
    )
    print(
        f"\ntwo nodes / one node: {two / one:.2f} in scans/s, against {limit:.2f} in the servers' CPU (the limit: what "
        f"the second node added in CPU, measured in the same run): efficiency {two / one / limit:.2f} (goal >= 0.8)"
        f"\nscans/s per server core: {per_core:,.0f}; PostgreSQL CPU per scan "
        f"{out['postgresql_cpu_us_per_scan']} us\nbytes per issued unit {per_issued:,.0f}, per unit with five "
        f"events {per_journey:,.0f}, per recorded scan {out['bytes_per_scan']:,} ({scanned:,} scans)"
    )
    print(f"wrote {bc.write_result('bench_nodes', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
