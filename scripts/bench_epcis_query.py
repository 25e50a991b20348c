#!/usr/bin/env python3
"""EPCIS query benchmark: a filter that reads inside events (``GE_example:temp``, tested on each stored document)
beside an indexed filter (``EQ_bizStep``) answering the same events, in the same run, on SQLite and PostgreSQL.

N external ObjectEvents (N = 10,000 by default) are captured in one document; one in ten is ``shipping`` and
carries ``example:temp`` 10, the others are ``inspecting`` with ``example:temp`` 1. Both queries answer the same
N/10 events, walked page by page (``perPage`` 100) by the capturing organisation: the indexed one reads only
those rows; the document filter reads every row's document (500 at a time). The figure is the time of the walk,
as a ratio (indexed / document filter: 1.0 would be free). Also timed: ``orderBy=eventTime`` descending over all N.

    .venv/bin/python scripts/bench_epcis_query.py [--events 10000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc

PG_NAME = "bench_epcis_query"
PER_PAGE = 100


def document(events: int) -> dict[str, Any]:
    start = datetime.now(UTC) - timedelta(days=1)
    return {
        "@context": [
            "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
            {"example": "http://ns.example.com/epcis/"},
        ],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventTime": (start + timedelta(seconds=i)).isoformat(),
                    "eventTimeZoneOffset": "+00:00",
                    "epcList": [f"urn:epc:id:sgtin:4012345.011111.{i}"],
                    "action": "OBSERVE",
                    "bizStep": "shipping" if i % 10 == 0 else "inspecting",
                    "example:temp": 10 if i % 10 == 0 else 1,
                }
                for i in range(events)
            ]
        },
    }


def capture(base: str, key: str, doc: dict[str, Any]) -> dict[str, Any]:
    headers = {"Content-Type": "application/ld+json", "Authorization": f"Bearer {key}"}
    request = urllib.request.Request(
        base + "/epcis/capture", data=json.dumps(doc).encode(), method="POST", headers=headers
    )
    with urllib.request.urlopen(request, timeout=900) as response:
        location = response.headers["Location"]
    while True:
        job: dict[str, Any] = bc.api_ok(base, "GET", location, key=key)
        if not job["running"]:
            return job
        time.sleep(0.1)


def walk(base: str, key: str, params: dict[str, str]) -> tuple[float, int]:
    """Seconds to read every page of a query, and the events read."""
    url: str | None = base + "/epcis/events?" + urllib.parse.urlencode({**params, "perPage": str(PER_PAGE)})
    count = 0
    start = time.perf_counter()
    while url:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=600) as response:
            body = json.loads(response.read())
            link = response.headers.get("Link")
        count += len(body["epcisBody"]["queryResults"]["resultsBody"]["eventList"])
        url = link[1 : link.index(">")] if link else None
    return time.perf_counter() - start, count


def run_db(db: str, events: int, workdir: Path) -> dict[str, Any]:
    url = bc.db_url(db, workdir, PG_NAME)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    server = bc.db_server(db, env, workdir)
    with bc.serving(server, db, PG_NAME):
        bc.run_passport(["init"], env, workdir)
        server.start()
        key = bc.create_manufacturer(env, workdir)["api_key"]
        job = capture(server.base, key, document(events))
        if not job["success"] or job["capturedCount"] != events:
            raise RuntimeError(f"capture failed: {str(job)[:600]}")
        bc.wait_for_quiet(30)
        walk(server.base, key, {"EQ_bizStep": "shipping"})  # warm up
        indexed, n_indexed = walk(server.base, key, {"EQ_bizStep": "shipping"})
        filtered, n_filtered = walk(server.base, key, {"GE_example:temp": "5"})
        ordered, n_ordered = walk(server.base, key, {"orderBy": "eventTime"})
        if not n_indexed == n_filtered == -(-events // 10) or n_ordered != events:
            raise RuntimeError(f"answers differ: {n_indexed}, {n_filtered}, {n_ordered}")
        print(
            f"  [{db}] EQ_bizStep {indexed:.2f} s, GE_example:temp {filtered:.2f} s "
            f"(indexed / filter {indexed / filtered:.3f}), orderBy eventTime {ordered:.2f} s",
            flush=True,
        )
    return {
        "db": db,
        "events": events,
        "matching": n_indexed,
        "indexed_seconds": round(indexed, 3),
        "document_filter_seconds": round(filtered, 3),
        "ratio_indexed_to_filter": round(indexed / filtered, 3),
        "rows_scanned_per_s": round(events / filtered),
        "order_by_event_time_seconds": round(ordered, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="captured events (default 10000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    rows = []
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory(prefix=f"bench-epcis-query-{db}-") as tmp:
            rows.append(run_db(db, args.events, Path(tmp)))
    print()
    print(
        bc.table(
            [
                "database",
                "events",
                "matching",
                "EQ_bizStep walk s",
                "GE_example:temp walk s",
                "indexed / filter",
                "rows scanned/s",
                "orderBy eventTime walk s",
            ],
            [
                [
                    r["db"],
                    f"{r['events']:,}",
                    f"{r['matching']:,}",
                    r["indexed_seconds"],
                    r["document_filter_seconds"],
                    r["ratio_indexed_to_filter"],
                    r["rows_scanned_per_s"],
                    r["order_by_event_time_seconds"],
                ]
                for r in rows
            ],
        )
    )
    bc.write_result("epcis_query", {"machine": info, "code": bc.code_version(), "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
