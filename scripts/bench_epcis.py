#!/usr/bin/env python3
"""EPCIS capture benchmark: events per second through ``POST /epcis/capture`` for one 10,000-event document,
beside the native ``POST /v1/events`` rate for the same journey, in the same run, on SQLite and PostgreSQL.

The journey: the manufacturer ships N units to a distributor, one event per unit (N = 10,000 by default). As
EPCIS: one EPCISDocument of N ObjectEvents (bizStep shipping, destination the distributor's party GLN), timed
from the POST to the capture job's end. Natively: the same N events for N other units, in lists of 1,000
(the /v1/events limit). Both end with every unit in transit, which is checked in the database.

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


def capture(base: str, key: str, document: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    body = json.dumps(document).encode()
    request = urllib.request.Request(
        base + "/epcis/capture",
        data=body,
        method="POST",
        headers={"Content-Type": "application/ld+json", "Authorization": f"Bearer {key}"},
    )
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


def run_db(db: str, events: int, workdir: Path) -> dict[str, Any]:
    url = f"sqlite:///{workdir / 'passport.db'}" if db == "sqlite" else bc.pg_recreate(PG_NAME)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    server = bc.passport_server(
        f"passport serve ({db})",
        env,
        workdir,
        workdir / f"server-{db}.log",
        "--no-access-log",
        "--log-level",
        "warning",
    )
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
        print(f"[{db}] issuing 2 x {events:,} units ...", flush=True)
        epcis_uris = issue_all(base, key, bc.create_batch(base, key, gtin, "EPCIS"), events)
        native_uris = issue_all(base, key, bc.create_batch(base, key, gtin, "NATIVE"), events)

        bc.wait_for_quiet(30)
        seconds_epcis, job = capture(base, key, epcis_document(epcis_uris))
        if not job["success"] or job["capturedCount"] != events:
            raise RuntimeError(f"capture job failed: {str(job)[:600]}")
        print(f"  EPCIS capture   {events:,} events in {seconds_epcis:7.2f} s  {events / seconds_epcis:8.0f} events/s")

        bc.wait_for_quiet(30)
        start = time.perf_counter()
        for i in range(0, events, NATIVE_CHUNK):
            chunk = native_uris[i : i + NATIVE_CHUNK]
            post_events(base, key, [{"action": "ship", "codes": [u], "to": dist["id"]} for u in chunk])
        seconds_native = time.perf_counter() - start
        print(
            f"  native events   {events:,} events in {seconds_native:7.2f} s  {events / seconds_native:8.0f} events/s"
        )

        moved = scalar(url, f"SELECT count(*) FROM unit WHERE state = 'in_transit' AND to_id = '{dist['id']}'")
        if moved != 2 * events:
            raise RuntimeError(f"{moved} units in transit, expected {2 * events}")
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
        "epcis_seconds": round(seconds_epcis, 3),
        "native_seconds": round(seconds_native, 3),
        "epcis_events_per_s": round(events / seconds_epcis),
        "native_events_per_s": round(events / seconds_native),
        "ratio": round(seconds_native / seconds_epcis, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="events in the document (default 10000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    rows = []
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory(prefix=f"bench-epcis-{db}-") as tmp:
            rows.append(run_db(db, args.events, Path(tmp)))
    print()
    print(
        bc.table(
            ["database", "events", "EPCIS capture events/s", "native /v1/events events/s", "EPCIS / native"],
            [
                [r["db"], f"{r['events']:,}", r["epcis_events_per_s"], r["native_events_per_s"], r["ratio"]]
                for r in rows
            ],
        )
    )
    bc.write_result("epcis", {"machine": info, "code": bc.code_version(), "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
