#!/usr/bin/env python3
"""Benchmark verification between trading partners (issue 16) beside the public scan, and the notices of a case.

1. Fill a fresh database with N units of a prescription drug through the service's own issuance endpoint (NDJSON),
   keeping a random sample of the issued URIs. A licensed distributor receives one unit of the lot, so it held the
   lot (the realistic requester: a wholesaler verifying a saleable return; no oracle guard on its requests).
2. Run ``passport serve`` (PASSPORT_VERIFY_RATE_LIMIT=0, --no-access-log) and load it with wrk (2 threads,
   ``--connections``, default 64) twice in the same run, each a Lua script replaying a random sampled path:
   - the public scan: ``GET <path>`` with ``Accept: application/json`` (the reference);
   - the partner answer: ``GET <path>&linkType=gs1:verificationService&context=dscsaSaleableReturn`` with
     ``Authorization: Bearer <the distributor's key>``: authenticated, read, signed (JWS), kept (a row each).
   ``--rounds`` repeats the pair (public, partner) to even out background load on a shared machine.
3. Notices: ``--lots`` lots of 100 units, each unit shipped to one of 100 licensed pharmacies that have a webhook
   endpoint; then ``POST /v1/cases`` over each lot is timed end to end (the request that writes the case, its log
   leaf, 100+ ``case_notice`` rows and 100 webhook deliveries, queued not sent: PASSPORT_WEBHOOK_INTERVAL_SECONDS=0).

Prints a table, the ratio partner/public (goal >= 0.7), p99 of both, and the case times (goal < 1 s); writes
bench-results/bench_partner_verify.json (or bench_partner_verify-postgresql.json).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc
import bench_custody as bcu

PARTNER_QUERY = "linkType=gs1:verificationService&context=dscsaSaleableReturn"

LUA = r"""
-- Replays a random path from the sample file (first argument after --); with a second argument, sends it as the
-- Bearer key (a partner's request), else Accept: application/json only (the public scan).
local paths = {}
local headers = {["Accept"] = "application/json"}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if args[2] then headers["Authorization"] = "Bearer " .. args[2] end
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
"""


def load(
    name: str, server: bc.Server, wrk: str, script: Path, paths: Path, key: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    script_args = (key,) if key else ()
    bc.run_wrk(wrk, server.base, script, paths, args.warmup, args.connections, script_args=script_args)  # not reported
    background = bc.wait_for_quiet(args.quiet_wait)
    pg_meter = bc.CpuMeter(lambda: bc.postgres_pids("bench_partner") if args.db == "postgresql" else [])
    pg_meter.start()
    cpu_before, t0 = server.cpu(), time.perf_counter()
    jiffies = bc.cpu_jiffies()
    spy = None
    if args.profile:  # py-spy beside the measured load (its sampling costs the machine CPU: compare within a run)
        out = Path(args.profile) / f"{name.strip().replace(' ', '_')}-{time.strftime('%H%M%S')}.txt"
        spy = subprocess.Popen(
            [bc._venv_bin("py-spy"), "record", "--pid", str(server.pid), "--subprocesses", "--threads", "--format",
             "raw", "--rate", "200", "--duration", str(args.duration), "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    stats, raw = bc.run_wrk(wrk, server.base, script, paths, args.duration, args.connections, script_args=script_args)
    elapsed = time.perf_counter() - t0
    if spy is not None:
        spy.wait()
    pg_cpu = pg_meter.stop()
    cpu_after = server.cpu()
    server_cpu = sum(cpu_after.values()) - sum(cpu_before.values())
    stats["server_cpu_us_per_request"] = round(server_cpu / max(stats.get("requests", 1), 1) * 1e6)
    stats["postgresql_cpu_us_per_request"] = round(pg_cpu / max(stats.get("requests", 1), 1) * 1e6)
    stats["machine_busy_cores"] = round(bc.busy_cores(jiffies, bc.cpu_jiffies(), elapsed), 2)
    stats["background_load_before_cores"] = round(background, 2)
    stats["wrk_output"] = raw
    print(
        f"  {name}: {stats['requests_per_s']:,.0f} req/s, p50 {stats.get('p50_ms', 0):.2f} ms, "
        f"p99 {stats.get('p99_ms', 0):.2f} ms, non-2xx {stats['non_2xx']}, "
        f"server CPU {stats['server_cpu_us_per_request']:,} us/req",
        flush=True,
    )
    return stats


def check_partner(base: str, paths: list[str], key: str) -> dict[str, Any]:
    """The answers to a few sampled links must be verified and signed; returns the last one."""
    body: Any = None
    for path in paths:
        status, body = bc.api(base, "GET", path, key=key)
        if status != 200 or not isinstance(body, dict) or body.get("verified") is not True or not body.get("signature"):
            raise RuntimeError(f"partner GET {path} -> {status}: {body}")
    return dict(body)


def signing_us(answer: dict[str, Any], rounds: int = 3000) -> float:
    """In this process: microseconds to sign one answer as the service does (canonical JSON, compact JWS, Ed25519),
    the part of a partner answer's cost that no change to the path can remove."""
    from app.domain.jws import CompactSigner
    from app.domain.signing import Signer

    signer = CompactSigner(Signer(1, bytes(range(32))), typ="lms-verification+jws")  # as the service keeps it
    payload = {k: v for k, v in answer.items() if k != "signature"}
    signer.sign(payload)
    started = time.perf_counter()
    for _ in range(rounds):
        signer.sign(payload)
    return (time.perf_counter() - started) / rounds * 1e6


def check_public(base: str, paths: list[str]) -> None:
    for path in paths:
        status, body = bc.api(base, "GET", path)
        if status != 200 or not isinstance(body, dict) or body.get("verdict") != "authentic":
            raise RuntimeError(f"public GET {path} -> {status}: {body}")


def make_pharmacies(url: str, count: int) -> list[tuple[str, str]]:
    """``count`` licensed pharmacies, made in one transaction (the CLI would start a process per organisation)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.services import orgs

    engine = create_engine(url)
    with Session(engine) as session, session.begin():
        made = [
            orgs.create_org(session, name=f"Bench Pharmacy {i}", role="retailer", licences=("drug_retail",))
            for i in range(count)
        ]
        result = [(org.id, key) for org, key in made]
    engine.dispose()
    return result


def case_notices(args: argparse.Namespace, base: str, maker: dict[str, Any], gtin: str, url: str) -> dict[str, Any]:
    holders = make_pharmacies(url, 100)
    for i, (_, key) in enumerate(holders):
        bc.api_ok(base, "POST", "/v1/webhooks", {"url": f"https://h{i}.bench.example.com/hook"}, key)
    seconds = []
    for n in range(args.lots):
        lot = f"CASE{n + 1}"
        batch = bc.create_batch(base, maker["api_key"], gtin, lot)
        uris = bcu.issue_all(base, maker["api_key"], batch, 100)
        ships = [
            {"action": "ship", "codes": [uri], "to": org_id} for uri, (org_id, _) in zip(uris, holders, strict=True)
        ]
        bcu.post_events(base, maker["api_key"], ships)
        body = {"type": "suspect", "gtin": gtin, "lots": [lot], "description": "bench: a lot held by 100 pharmacies"}
        started = time.perf_counter()
        status, case = bc.api(base, "POST", "/v1/cases", body, maker["api_key"])
        seconds.append(time.perf_counter() - started)
        if status != 201:
            raise RuntimeError(f"POST /v1/cases -> {status}: {case}")
        print(f"  case over {lot}: {seconds[-1] * 1000:.0f} ms", flush=True)
    notices = bc.count_rows(url, "case_notice")
    deliveries = bc.count_rows(url, "webhook_delivery", "event_type = 'case.opened'")
    return {
        "lots": args.lots,
        "holders_with_endpoint": len(holders),
        "seconds": [round(s, 4) for s in seconds],
        "median_s": round(statistics.median(seconds), 4),
        "max_s": round(max(seconds), 4),
        "case_notice_rows": notices,
        "case_opened_deliveries": deliveries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark partner verification beside the public scan.")
    parser.add_argument("--units", type=int, default=200_000, help="units in the database (default 200000)")
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per target and round (default 20)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64; 2 threads)")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of loads (public, partner); default 2")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite", help="default: sqlite")
    parser.add_argument("--sample", type=int, default=20_000, help="URIs kept for replay (default 20000)")
    parser.add_argument("--lots", type=int, default=3, help="cases opened over a lot held by 100 (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unreported warm-up load (default 3)")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait this long at most for a quieter machine")
    parser.add_argument("--source", metavar="DIR", help="run the service from this source tree")
    parser.add_argument("--output", metavar="NAME", help="write bench-results/NAME.json")
    parser.add_argument("--profile", metavar="DIR", help="py-spy (raw, --threads) of the server under each load")
    args = parser.parse_args(argv)
    if args.units < 10 or args.duration < 1 or args.connections < 2 or args.rounds < 1 or args.lots < 1:
        parser.error("--units >= 10, --duration >= 1, --connections >= 2, --rounds >= 1, --lots >= 1")

    bc.interruptible()
    if args.source:
        bc.use_source(args.source)
    info = bc.machine()
    print(bc.machine_line(info), f"load average {os.getloadavg()}", flush=True)
    wrk = bc.ensure_wrk()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-partner-{args.db}-"))
    servers: list[bc.Server] = []
    results: dict[str, Any] = {"public": [], "partner": []}
    try:
        url = f"sqlite:///{workdir / 'passport.db'}" if args.db == "sqlite" else bc.pg_recreate("bench_partner")
        env = bc.passport_env(
            url,
            workdir,
            PASSPORT_VERIFY_RATE_LIMIT="0",
            PASSPORT_WEBHOOK_INTERVAL_SECONDS="0",
            PASSPORT_CHECKPOINT_INTERVAL_SECONDS="0",
        )
        bc.run_passport(["init"], env, workdir)
        server = bc.passport_server("passport serve", env, workdir, workdir / "server.log", quiet=True)
        servers.append(server)
        server.start()
        maker = bc.create_manufacturer(env, workdir)
        dist = bcu.create_org(env, workdir, "Bench Distributor", "distributor", "drug_wholesale")
        gtin = bc.create_product(server.base, maker["api_key"])
        batch = bc.create_batch(server.base, maker["api_key"], gtin, "BENCH1")
        print(f"filling the {args.db} database with {args.units:,} units through the API ...", flush=True)
        issued = bc.issue_ndjson(server.base, maker["api_key"], batch, args.units, sample_size=args.sample, seed=7)
        rng = random.Random(11)
        uris = list(issued.sample)
        received = uris.pop(rng.randrange(len(uris)))  # the distributor's unit: it held the lot
        paths = []
        for uri in uris:
            parts = urllib.parse.urlsplit(uri)
            paths.append(parts.path + ("?" + parts.query if parts.query else ""))
        bcu.post_events(server.base, maker["api_key"], [{"action": "ship", "codes": [received], "to": dist["id"]}])
        bcu.post_events(server.base, dist["api_key"], [{"action": "receive", "codes": [received]}])
        public_file, partner_file = workdir / "public.txt", workdir / "partner.txt"
        public_file.write_text("\n".join(paths) + "\n")
        partner_paths = [f"{p}{'&' if '?' in p else '?'}{PARTNER_QUERY}" for p in paths]
        partner_file.write_text("\n".join(partner_paths) + "\n")
        script = workdir / "replay.lua"
        script.write_text(LUA)
        check_public(server.base, rng.sample(paths, 5))
        sample_answer = check_partner(server.base, rng.sample(partner_paths, 5), dist["api_key"])
        print("  5 sampled codes: public authentic, partner verified and signed", flush=True)

        kept_before = bc.count_rows(url, "partner_verification")
        partner_requests = 0
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}: wrk -t2 -c{args.connections} -d{args.duration}s", flush=True)
            results["public"].append(load("public scan ", server, wrk, script, public_file, None, args))
            partner = load("partner answer", server, wrk, script, partner_file, dist["api_key"], args)
            partner_requests += partner["requests"]
            results["partner"].append(partner)
        kept = bc.count_rows(url, "partner_verification") - kept_before

        results["signing_us"] = round(signing_us(sample_answer), 1)
        print("cases: a lot held by 100 pharmacies with webhook endpoints ...", flush=True)
        results["cases"] = case_notices(args, server.base, maker, gtin, url)
        server.stop()
    except BaseException:
        bc.print_server_logs(servers)
        raise
    finally:
        for srv in servers:
            srv.stop()
        if args.db == "postgresql":
            bc.pg_drop("bench_partner")
        shutil.rmtree(workdir, ignore_errors=True)

    def total(runs: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in runs) / len(runs)

    pub, par = results["public"], results["partner"]
    ratio = total(par, "requests_per_s") / total(pub, "requests_per_s")
    cpu_ratio = total(pub, "server_cpu_us_per_request") / total(par, "server_cpu_us_per_request")
    rows = []
    for label, runs in (("public scan GET <unit link>", pub), ("partner answer (key, sign, keep)", par)):
        for n, r in enumerate(runs):
            rows.append(
                [
                    f"{label} #{n + 1}",
                    f"{r['requests_per_s']:,.0f}",
                    f"{r.get('p50_ms', 0):.2f}",
                    f"{r.get('p99_ms', 0):.2f}",
                    f"{r['requests']:,}",
                    str(r["non_2xx"]),
                    f"{r['server_cpu_us_per_request']:,}",
                    f"{r['postgresql_cpu_us_per_request']:,}",
                    f"{r['machine_busy_cores']:.2f}",
                ]
            )
    print()
    print(bc.machine_line(info), f"load average {os.getloadavg()}")
    print(f"\nPartner verification vs public scan, {args.db}, {args.units:,} units, {len(paths):,} sampled codes")
    headers = ["target", "req/s", "p50 ms", "p99 ms", "requests", "non-2xx", "server us/req", "pg us/req", "busy"]
    print(bc.table(headers, rows))
    print(f"\nratio partner/public (mean req/s over {args.rounds} rounds): {ratio:.2f} (goal >= 0.7)")
    print(f"ratio by server CPU per request (public/partner): {cpu_ratio:.2f}")
    signing = results["signing_us"]
    share = signing / max(total(par, "server_cpu_us_per_request"), 1)
    print(
        f"signing one answer (canonical JSON, JWS, Ed25519), in process: {signing:.0f} us = {share:.0%} of the "
        "partner answer's server CPU per request"
    )
    print(f"partner answers kept: {kept:,} rows for {partner_requests:,} measured requests (plus warm-up and checks)")
    cases = results["cases"]
    print(
        f"case over a lot held by 100 organisations with endpoints, POST /v1/cases end to end: median "
        f"{cases['median_s'] * 1000:.0f} ms, max {cases['max_s'] * 1000:.0f} ms (goal < 1 s); "
        f"{cases['case_notice_rows']} notices, {cases['case_opened_deliveries']} deliveries queued"
    )
    name = args.output or ("bench_partner_verify" if args.db == "sqlite" else f"bench_partner_verify-{args.db}")
    path = bc.write_result(
        name,
        {
            "benchmark": "bench_partner_verify",
            "machine": info,
            "load_average_end": os.getloadavg(),
            "args": vars(args),
            "code": bc.code_version(),
            "public": pub,
            "partner": par,
            "partner_rows_kept": kept,
            "signing_us_per_answer": signing,
            "ratio_partner_over_public": round(ratio, 3),
            "ratio_by_server_cpu_per_request": round(cpu_ratio, 3),
            "cases": cases,
            "goals": {"ratio_at_least_0_7": ratio >= 0.7, "case_notices_under_1s": cases["max_s"] < 1.0},
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    bc.run_main(main)
