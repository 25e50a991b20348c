#!/usr/bin/env python3
"""EPCIS capture benchmark: events per second through ``POST /epcis/capture`` for one 10,000-event document,
beside the native ``POST /v1/events`` rate for the same journey, in the same run, on SQLite and PostgreSQL.

The journey: the manufacturer ships N units to a distributor, one event per unit (N = 10,000 by default). As
EPCIS: one EPCISDocument of N ObjectEvents (bizStep shipping, destination the distributor's party GLN), timed
from the POST to the capture job's end, with GS1-Capture-Error-Behaviour rollback (one transaction) and with
proceed (a transaction every 200 events). Natively: the same N events for N other units, in lists of 1,000
(the /v1/events limit). Every unit ends in transit, which is checked in the database.

    .venv/bin/python scripts/bench_epcis.py [--events 10000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc
from bench_custody import issue_all, post_events, scalar

PG_NAME = "bench_epcis"
DIST_GLN = "0614141000005"
NATIVE_CHUNK = 1_000


def epcis_document(uris: list[str]) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(hours=1)
    party = [{"type": "owning_party", "destination": f"urn:epc:id:pgln:{DIST_GLN[:7]}.{DIST_GLN[7:12]}"}]
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": (start + timedelta(milliseconds=i)).isoformat(),
                    "eventTimeZoneOffset": "+00:00",
                    "epcList": [uri],
                    "action": "OBSERVE",
                    "bizStep": "shipping",
                    "disposition": "in_transit",
                    "destinationList": party,
                }
                for i, uri in enumerate(uris)
            ]
        },
    }


def capture(base: str, key: str, document: dict[str, Any], behaviour: str) -> tuple[float, dict[str, Any]]:
    headers = {
        "Content-Type": "application/ld+json",
        "Authorization": f"Bearer {key}",
        "GS1-Capture-Error-Behaviour": behaviour,
    }
    data = json.dumps(document).encode()
    request = urllib.request.Request(base + "/epcis/capture", data=data, method="POST", headers=headers)
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        if response.status != 202:
            raise RuntimeError(f"capture -> {response.status}")
        location = response.headers["Location"]
    while True:
        job = bc.api_ok(base, "GET", location, key=key)
        if not job["running"]:
            break
        time.sleep(0.05)
    return time.perf_counter() - start, job


def run_db(db: str, events: int, behaviours: list[str], workdir: Path) -> dict[str, Any]:
    url = f"sqlite:///{workdir / 'passport.db'}" if db == "sqlite" else bc.pg_recreate(PG_NAME)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    log = workdir / f"server-{db}.log"
    server = bc.passport_server(
        f"passport serve ({db})", env, workdir, log, "--no-access-log", "--log-level", "warning"
    )
    epcis_seconds: dict[str, float] = {}
    try:
        bc.run_passport(["init"], env, workdir)
        server.start()
        base = server.base
        maker = bc.create_manufacturer(env, workdir)
        args = ["orgs", "create", "--name", "Bench Distribution", "--role", "distributor"]
        dist = json.loads(bc.run_passport([*args, "--gln", DIST_GLN, "--licence", "drug_wholesale"], env, workdir))
        key = maker["api_key"]
        gtin = bc.gtin_with_check("0950600013435")
        product = {"gtin": gtin, "name": "Bench Paracetamol", "category": "drug_otc"}
        bc.api_ok(base, "POST", "/v1/products", product, key)
        print(f"[{db}] issuing {len(behaviours) + 1} x {events:,} units ...", flush=True)
        native_uris = issue_all(base, key, bc.create_batch(base, key, gtin, "NATIVE"), events)
        for behaviour in behaviours:
            uris = issue_all(base, key, bc.create_batch(base, key, gtin, f"EPCIS-{behaviour}"), events)
            bc.wait_for_quiet(30)
            seconds, job = capture(base, key, epcis_document(uris), behaviour)
            if not job["success"] or job["capturedCount"] != events:
                raise RuntimeError(f"capture job failed: {str(job)[:600]}")
            epcis_seconds[behaviour] = seconds
            print(f"  EPCIS {behaviour:9} {events:,} events in {seconds:7.2f} s  {events / seconds:8.0f} events/s")

        bc.wait_for_quiet(30)
        start = time.perf_counter()
        for i in range(0, events, NATIVE_CHUNK):
            chunk = native_uris[i : i + NATIVE_CHUNK]
            post_events(base, key, [{"action": "ship", "codes": [u], "to": dist["id"]} for u in chunk])
        seconds_native = time.perf_counter() - start
        print(
            f"  native          {events:,} events in {seconds_native:7.2f} s  {events / seconds_native:8.0f} events/s"
        )

        moved = scalar(url, f"SELECT count(*) FROM unit WHERE state = 'in_transit' AND to_id = '{dist['id']}'")
        if moved != (len(behaviours) + 1) * events:
            raise RuntimeError(f"{moved} units in transit, expected {(len(behaviours) + 1) * events}")
    except BaseException:
        print(f"\n--- server log ---\n{server.log_tail()}\n---", file=sys.stderr)
        raise
    finally:
        server.stop()
        if db == "postgresql":
            bc.pg_drop(PG_NAME)
    return {
        "db": db,
        "events": events,
        "native_seconds": round(seconds_native, 3),
        "native_events_per_s": round(events / seconds_native),
        "epcis": {
            behaviour: {
                "seconds": round(seconds, 3),
                "events_per_s": round(events / seconds),
                "ratio_to_native": round(seconds_native / seconds, 3),
            }
            for behaviour, seconds in epcis_seconds.items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events in the document (default 10000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--behaviour",
        action="append",
        choices=("rollback", "proceed"),
        help="GS1-Capture-Error-Behaviour of the EPCIS document; repeatable (default: both, one after the other)",
    )
    args = parser.parse_args(argv)
    behaviours = args.behaviour or ["rollback", "proceed"]
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    rows = []
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory(prefix=f"bench-epcis-{db}-") as tmp:
            rows.append(run_db(db, args.events, behaviours, Path(tmp)))
    print()
    print(
        bc.table(
            ["database", "events", "capture mode", "EPCIS events/s", "native /v1/events events/s", "EPCIS / native"],
            [
                [r["db"], f"{r['events']:,}", mode, e["events_per_s"], r["native_events_per_s"], e["ratio_to_native"]]
                for r in rows
                for mode, e in r["epcis"].items()
            ],
        )
    )
    bc.write_result("epcis", {"machine": info, "code": bc.code_version(), "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
