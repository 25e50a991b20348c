#!/usr/bin/env python3
"""Benchmark passport scans: product- and lot-level scans against the minimal endpoint, and a unit scan with a
20-field passport against the same scan without one (issue 14).

1. A fresh database: ``--products`` products (default 20), each with ``--lots`` lots (default 5), every product with
   the 20-field passport below and every lot with a lot-level passport adding a certificate; and one more product
   (no passport yet) with ``--units`` units in one lot, issued through the service's own endpoint (NDJSON), of which
   ``--sample`` are kept for replay.
2. With wrk (2 threads, ``--connections`` 64, a Lua script replaying a random path of a file per request,
   ``Accept: application/json``), in one run, each target on a fresh server:
   - minimal: scripts/minimal_app.py (one indexed SELECT on ``unit``) with the sampled unit paths: the floor;
   - unit scans of the sampled units, their product without a passport;
   - the same unit scans after the product gets the 20-field passport and its lot a lot-level one;
   - product-level scans ``/01/{gtin}`` and lot-level scans ``/01/{gtin}/10/{lot}`` of the products with passports.
3. Prints a table and the goals: product and lot scans >= 0.5 of the minimal endpoint's req/s with p99 < 50 ms;
   the unit scan with the passport >= 0.8 of the same scan without. Writes bench-results/bench_passport_scan.json
   (or bench_passport_scan-postgresql.json).

Run: .venv/bin/python scripts/bench_passport_scan.py [--db sqlite|postgresql] [--duration 10] [--units 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc
import bench_verify as bv

PG_NAME = "bench_passport_scan"


def passport_document(today: datetime) -> dict[str, Any]:
    """Every field of the schema, 20 fields counting each list item (18 public: the facility is for partners, the
    test report for authorities), with a long leaflet: what a well-kept drug passport holds."""

    def day(n: int) -> str:
        return (today + timedelta(days=n)).date().isoformat()

    certificates = [
        {"scheme": scheme, "number": f"{scheme}-2025-{i:04d}", "issuer": "Bench Certification Centre",
         "valid_from": day(-400), "valid_until": day(until)}
        for i, (scheme, until) in enumerate((("GMP", 900), ("ISO 9001", -10), ("ISO 14001", 700), ("CCC", 300)))
    ]  # fmt: skip
    return {
        "manufacturer": {"name": "Bench Pharma", "uscc": "91310000MA1K4CXY5B", "gln": "6901234000006"},
        "facility": {"name": "Plant 1", "gln": "6901234000013", "address": "1 Bench Road, Shanghai"},
        "origin": {"country": "CN", "region": "CN-31"},
        "standards": [{"code": "ChP 2020", "title": "Pharmacopoeia of the PRC"}, {"code": "GB 28050-2011"},
                      {"code": "GB/T 191-2008", "title": "Packaging: pictorial marking for handling of goods"}],
        "certifications": certificates,
        "test_reports": [{"lab": "Bench Lab", "number": "R-1", "date": day(-30), "result": "pass"}],
        "composition": [{"name": "Amoxicillin (as trihydrate)", "share_percent": 62.5}, "Magnesium stearate"],
        "instructions": {"zh": "口服。成人一次0.5克。", "en": "Oral. Adults: 0.5 g every 6 to 8 hours."},
        "warnings": {"zh": "青霉素过敏者禁用。", "en": "Do not use if allergic to penicillin."},
        "disposal": {"zh": "过期药品请交回药店回收点。", "en": "Return expired medicine to a take-back point."},
        "links": [{"linkType": "gs1:epil", "href": "https://example.com/leaflet.pdf", "title": "Leaflet", "lang": "en"},
                  {"linkType": "gs1:epil", "href": "https://example.com/zh.pdf", "title": "说明书", "lang": "zh"}],
        "leaflet": {"zh": "【药品名称】阿莫西林胶囊\n" + "【注意事项】请仔细阅读说明书。\n" * 40, "url": "https://example.com/l.html"},
        "storage": {"zh": "遮光密封保存。", "en": "Keep sealed, away from light.", "max_celsius": 25},
        "tiers": {"facility": "partner", "test_reports": "authority"},
    }  # fmt: skip


def field_count(document: dict[str, Any]) -> int:
    """Fields as a reader counts them: each top-level field, each further item of a list (tiers not counted)."""
    return sum(len(v) if isinstance(v, list) else 1 for k, v in document.items() if k != "tiers")


def lot_passport(lot: str, today: datetime) -> dict[str, Any]:
    until = (today + timedelta(days=500)).date().isoformat()
    return {"certifications": [{"scheme": "Lot release", "number": f"LR-{lot}", "valid_until": until}]}


def create_batch(base: str, key: str, gtin: str, lot: str) -> int:
    return bc.create_batch(base, key, gtin, lot)


def fill(args: argparse.Namespace, env: dict[str, str], workdir: Path, servers: list[bc.Server]) -> dict[str, Any]:
    bc.run_passport(["init"], env, workdir)
    filler = bc.passport_server("passport serve (fill)", env, workdir, workdir / "server-fill.log", quiet=True)
    servers.append(filler)
    filler.start()
    org = bc.create_manufacturer(env, workdir)
    key = org["api_key"]
    today = datetime.now(UTC)
    document = passport_document(today)
    product_paths, lot_paths = [], []
    print(f"creating {args.products} products with passports, {args.lots} lots each ...", flush=True)
    for p in range(args.products):
        gtin = bc.create_product(filler.base, key, f"69012345{p:05d}")
        bc.api_ok(filler.base, "PUT", f"/v1/products/{gtin}/passport", document, key)
        product_paths.append(f"/01/{gtin}")
        for lot_index in range(args.lots):
            lot = f"L{p:03d}X{lot_index}"
            batch = create_batch(filler.base, key, gtin, lot)
            bc.api_ok(filler.base, "PUT", f"/v1/batches/{batch}/passport", lot_passport(lot, today), key)
            lot_paths.append(f"/01/{gtin}/10/{lot}")
    unit_gtin = bc.create_product(filler.base, key, "6901234599999")
    unit_batch = create_batch(filler.base, key, unit_gtin, "UNITS1")
    print(f"issuing {args.units:,} units of a product without a passport ...", flush=True)
    issued = bc.issue_ndjson(filler.base, key, unit_batch, args.units, sample_size=args.sample, seed=7)
    filler.stop()
    unit_paths = []
    for uri in issued.sample:
        parts = urllib.parse.urlsplit(uri)
        unit_paths.append(parts.path + ("?" + parts.query if parts.query else ""))
    return {
        "key": key,
        "document": document,
        "unit_gtin": unit_gtin,
        "unit_batch": unit_batch,
        "paths": {"product": product_paths, "lot": lot_paths, "unit": unit_paths},
    }


def give_passport(env: dict[str, str], workdir: Path, made: dict[str, Any], servers: list[bc.Server]) -> None:
    """The product of the sampled units gets the 20-field passport, its lot a lot-level one."""
    server = bc.passport_server(
        "passport serve (passport)", env, workdir, workdir / "server-put.log", "--no-access-log"
    )
    servers.append(server)
    server.start()
    key, gtin = made["key"], made["unit_gtin"]
    bc.api_ok(server.base, "PUT", f"/v1/products/{gtin}/passport", made["document"], key)
    bc.api_ok(
        server.base, "PUT", f"/v1/batches/{made['unit_batch']}/passport", lot_passport("UNITS1", made["now"]), key
    )
    server.stop()


Check = Callable[[dict[str, Any]], str | None]  # a problem with a sampled answer, or None


def expect(verdict: str, passport: bool | None) -> Check:
    def check(body: dict[str, Any]) -> str | None:
        if body.get("verdict") != verdict:
            return f"verdict {body.get('verdict')!r}, expected {verdict!r}"
        if passport is not None and (body.get("passport") is not None) != passport:
            return f"passport {'missing' if passport else 'present'}"
        return None

    return check


def found(body: dict[str, Any]) -> str | None:
    return None if body.get("found") else "not found"


def measure(
    name: str,
    server: bc.Server,
    wrk: str,
    script: Path,
    paths: list[str],
    paths_file: Path,
    check: Check,
    args: argparse.Namespace,
    pg_name: str | None,
) -> dict[str, Any]:
    paths_file.write_text("\n".join(paths) + "\n")
    server.start()
    try:
        for path in random.sample(paths, min(5, len(paths))):
            status, body = bc.api(server.base, "GET", path)
            problem = "not a JSON object" if not isinstance(body, dict) else check(body)
            if status != 200 or problem:
                raise RuntimeError(f"{name}: GET {path} -> {status}: {problem}: {str(body)[:500]}")
        bv.run_wrk(wrk, server.base, script, paths_file, args.warmup, args.connections)  # warm-up, not reported
        background = bc.wait_for_quiet(args.quiet_wait)
        db_meter = bc.CpuMeter(lambda: bc.postgres_pids(pg_name) if pg_name else [])
        db_meter.start()
        jiffies, before, t0 = bc.cpu_jiffies(), server.cpu(), time.perf_counter()
        stats, raw = bv.run_wrk(wrk, server.base, script, paths_file, args.duration, args.connections)
        elapsed = time.perf_counter() - t0
        db_cpu, after = db_meter.stop(), server.cpu()
        machine_busy = bc.busy_cores(jiffies, bc.cpu_jiffies(), elapsed)
    finally:
        server.stop()
    server_cpu = after["server"] - before["server"] + after["children"] - before["children"]
    stats["server_cpu_us_per_request"] = round(server_cpu / max(stats.get("requests", 1), 1) * 1e6)
    stats["server_cpu_cores"] = round(server_cpu / elapsed, 2)
    stats["postgresql_cpu_cores"] = round(db_cpu / elapsed, 2)
    stats["machine_busy_cores"] = round(machine_busy, 2)
    stats["background_load_before_cores"] = round(background, 2)
    stats["wrk_output"] = raw
    print(
        f"  {name}: {stats['requests_per_s']:,.0f} req/s, p50 {stats.get('p50_ms', 0):.2f} ms, "
        f"p99 {stats.get('p99_ms', 0):.2f} ms, non-2xx {stats['non_2xx']}, "
        f"server CPU {stats['server_cpu_us_per_request']:,} us/req, machine busy {machine_busy:.2f} cores "
        f"(background before: {background:.2f})",
        flush=True,
    )
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark product, lot and unit scans with passports (wrk).")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="default: sqlite")
    parser.add_argument("--products", type=int, default=20, help="products with passports (default 20)")
    parser.add_argument("--lots", type=int, default=5, help="lots per product, each with a passport (default 5)")
    parser.add_argument("--units", type=int, default=20_000, help="units of the unit-scan product (default 20000)")
    parser.add_argument("--sample", type=int, default=5_000, help="unit URIs kept for replay (default 5000)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per target (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unreported warm-up load (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64; 2 threads)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers, the same for every target")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for other load to end")
    parser.add_argument("--output", metavar="NAME", help="write bench-results/NAME.json")
    args = parser.parse_args(argv)
    if min(args.products, args.lots, args.duration, args.workers) < 1 or args.units < 10 or args.connections < 2:
        parser.error("--products, --lots, --duration, --workers >= 1; --units >= 10; --connections >= 2")

    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    wrk = bv.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-passport-scan-{args.db}-"))
    pg_name = PG_NAME if args.db == "postgresql" else None
    servers: list[bc.Server] = []
    results: dict[str, Any] = {}
    try:
        url = f"sqlite:///{workdir / 'passport.db'}" if pg_name is None else bc.pg_recreate(PG_NAME)
        env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
        made = fill(args, env, workdir, servers)
        made["now"] = datetime.now(UTC)
        paths = made["paths"]
        script = workdir / "replay.lua"
        script.write_text(bv.LUA)

        def service(name: str) -> bc.Server:
            log = workdir / f"server-{name}.log"
            server = bc.passport_server(f"passport serve ({name})", env, workdir, log, workers=args.workers, quiet=True)
            servers.append(server)
            return server

        minimal = bc.minimal_server(env, url, workdir, args.workers)
        servers.append(minimal)
        print(f"loading each target with wrk ({args.connections} connections, 2 threads, {args.duration} s) ...")
        units_file = workdir / "units.txt"
        results["minimal"] = measure("minimal", minimal, wrk, script, paths["unit"], units_file, found, args, pg_name)
        results["unit_without"] = measure(
            "unit, no passport", service("unit-without"), wrk, script, paths["unit"], units_file,
            expect("authentic", passport=False), args, pg_name,
        )  # fmt: skip
        give_passport(env, workdir, made, servers)
        results["unit_with"] = measure(
            "unit, 20-field passport", service("unit-with"), wrk, script, paths["unit"], units_file,
            expect("authentic", passport=True), args, pg_name,
        )  # fmt: skip
        results["product"] = measure(
            "product", service("product"), wrk, script, paths["product"], workdir / "products.txt",
            expect("registered", passport=True), args, pg_name,
        )  # fmt: skip
        results["lot"] = measure(
            "lot", service("lot"), wrk, script, paths["lot"], workdir / "lots.txt",
            expect("registered", passport=True), args, pg_name,
        )  # fmt: skip
    except BaseException:
        bc.print_server_logs(servers)
        raise
    finally:
        for server in servers:
            server.stop()
        if pg_name is not None:
            bc.pg_drop(PG_NAME)
        shutil.rmtree(workdir, ignore_errors=True)

    mini = results["minimal"]["requests_per_s"]
    ratios = {name: results[name]["requests_per_s"] / mini for name in ("product", "lot")}
    unit_ratio = results["unit_with"]["requests_per_s"] / results["unit_without"]["requests_per_s"]
    unit_cpu_ratio = results["unit_without"]["server_cpu_us_per_request"] / max(
        results["unit_with"]["server_cpu_us_per_request"], 1
    )
    fields = field_count(made["document"])
    print()
    print(bc.machine_line(info))
    print(
        f"\nPassport scans, {args.db}, {args.products} products x {args.lots} lots with passports, {args.units:,} "
        f"units; wrk -t2 -c{args.connections} -d{args.duration}s, {args.workers} uvicorn worker(s), no access log"
    )
    labels = {
        "minimal": "minimal_app  one SELECT by (gtin, serial), unit paths",
        "product": "GET /01/{gtin}, passport of product",
        "lot": "GET /01/{gtin}/10/{lot}, product + lot passports",
        "unit_without": "unit scan, product without passport",
        "unit_with": f"the same unit scans, {fields}-field passport + lot's",
    }
    rows = [
        [
            label,
            f"{results[name]['requests_per_s']:,.0f}",
            f"{results[name].get('p50_ms', 0):.2f}",
            f"{results[name].get('p99_ms', 0):.2f}",
            str(results[name]["non_2xx"]),
            f"{results[name]['server_cpu_us_per_request']:,}",
            f"{results[name]['machine_busy_cores']:.2f}",
        ]
        for name, label in labels.items()
    ]
    print(bc.table(["target", "req/s", "p50 ms", "p99 ms", "non-2xx", "server CPU us/req", "machine busy"], rows))
    goals = {
        "product_ratio_at_least_0_5": ratios["product"] >= 0.5,
        "lot_ratio_at_least_0_5": ratios["lot"] >= 0.5,
        "product_p99_under_50ms": results["product"].get("p99_ms", 1e9) < 50,
        "lot_p99_under_50ms": results["lot"].get("p99_ms", 1e9) < 50,
        "unit_with_passport_at_least_0_8": unit_ratio >= 0.8,
    }
    print(
        f"\nproduct/minimal {ratios['product']:.2f}, lot/minimal {ratios['lot']:.2f} (goal >= 0.5); p99 product "
        f"{results['product'].get('p99_ms', 0):.1f} ms, lot {results['lot'].get('p99_ms', 0):.1f} ms (goal < 50 ms)"
    )
    print(
        f"unit scan with passport / without: {unit_ratio:.2f} (goal >= 0.8); by server CPU per request: "
        f"{unit_cpu_ratio:.2f}"
    )
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()))
    path = bc.write_result(
        args.output or ("bench_passport_scan" if args.db == "sqlite" else f"bench_passport_scan-{args.db}"),
        {
            "benchmark": "bench_passport_scan",
            "machine": info,
            "args": vars(args),
            "code": bc.code_version(),
            "load_average_at_end": os.getloadavg(),
            "passport_fields": fields,
            "results": results,
            "ratios": {**ratios, "unit_with_over_without": unit_ratio, "unit_by_cpu": unit_cpu_ratio},
            "goals": goals,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    bc.run_main(main, subprocess.CalledProcessError)
