#!/usr/bin/env python3
"""Benchmark the import of codes issued elsewhere: POST /v1/batches/{id}/codes/import, NDJSON, three levels.

For each database (SQLite file in a temporary directory, PostgreSQL database ``bench_import``), on a fresh database:
``passport init``, ``passport serve`` (1 uvicorn worker), a manufacturer, a product with a ``cn_drug_id`` and
batches through the API. The file holds 20-digit codes in three package levels (a case holds 10 boxes, a box 10
units: 111 codes a case), children before parents; curl uploads it and the clock runs until curl has the answer
(after the commit). Then, in the same run and the same database, the *raw* baseline: the same number of unit and
container rows (other codes) inserted straight into the tables by ``app.db.bulk.copy_rows`` (COPY on PostgreSQL,
one executemany on SQLite) in one transaction, with no parsing, no checks and no counters. The ratio is
import rows/s ÷ raw rows/s (goal ≥ 0.5).

Memory: the server's peak RSS (VmHWM) after importing N/10 codes and after N codes, each on its own fresh server
and database, so a flat memory shows as two close numbers.

Prints a table and writes bench-results/bench_import.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_common as bc

UNIT_COLUMNS = ("gtin", "serial", "batch_id", "issuance_id", "container_sscc")
CONTAINER_COLUMNS = ("sscc", "state", "holder_id", "parent_sscc", "created_at")
PER_BOX = 10
PER_CASE = 10
CN_DRUG_ID = "8123456"


def family(prefix: str, count: int) -> Iterator[tuple[str, str | None, int]]:
    """(code, parent, level) for about ``count`` codes: units (level 2), then their box (1), then their case (0)."""
    per_case = 1 + PER_CASE * (1 + PER_BOX)
    serial = 0

    def code() -> str:
        nonlocal serial
        serial += 1
        return f"{prefix}{serial:0{20 - len(prefix)}d}"

    for _ in range(max(1, count // per_case)):
        case = code()
        for _ in range(PER_CASE):
            box = code()
            for _ in range(PER_BOX):
                yield code(), box, 2
            yield box, case, 1
        yield case, None, 0


def write_file(path: Path, count: int) -> int:
    lines = 0
    with path.open("w") as handle:
        for code, parent, _ in family(CN_DRUG_ID, count):
            handle.write(json.dumps({"code": code, "parent": parent}) + "\n")
            lines += 1
    return lines


def upload(base: str, key: str, batch_id: int, path: Path) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            "--data-binary",
            f"@{path}",
            "-H",
            "Content-Type: application/x-ndjson",
            "-H",
            f"Authorization: Bearer {key}",
            "-w",
            "\n%{http_code}",
            f"{base}/v1/batches/{batch_id}/codes/import",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds = time.perf_counter() - start
    body, status = out.rsplit("\n", 1)
    if status != "201":
        raise RuntimeError(f"import answered {status}: {body[:500]}")
    return seconds, json.loads(body)


def raw_insert(url: str, batch_id: int, count: int, holder: str) -> tuple[float, int]:
    """The same shape of rows (other codes), inserted straight into container and unit in one transaction, with
    one issuance for the units' foreign key: the floor an import cannot beat (no parsing, checks or counters)."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine, text

    from app.domain.code_import import CodeKind, container_key

    engine = create_engine(url)
    now = datetime.now(UTC)
    stamp: Any = now if engine.dialect.name == "postgresql" else now.replace(tzinfo=None).isoformat(sep=" ")
    rows = 0
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO issuance (batch_id, key_tag, count, created_at) VALUES (:b, NULL, 0, :t)"),
            {"b": batch_id, "t": stamp},
        )
        gtin = conn.execute(text("SELECT gtin FROM batch WHERE id = :b"), {"b": batch_id}).scalar_one()
        issuance_id = conn.execute(text("SELECT MAX(id) FROM issuance WHERE batch_id = :b"), {"b": batch_id}).scalar()
        units: list[tuple[Any, ...]] = []
        levels: list[list[tuple[Any, ...]]] = [[], []]  # cases, boxes
        for code, parent, level in family("7", count):
            pkey = container_key(parent, CodeKind.CN) if parent else None
            if level == 2:
                units.append((gtin, code, batch_id, issuance_id, pkey))
                continue
            levels[level].append((container_key(code, CodeKind.CN), "issued", holder, pkey, stamp))
            if level == 0 and len(units) >= 10_000:  # a case closes its boxes and units: all can go in
                rows += _flush(conn, levels, units)
        rows += _flush(conn, levels, units)
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds, rows


def _flush(conn: Any, levels: list[list[tuple[Any, ...]]], units: list[tuple[Any, ...]]) -> int:
    """Cases, then boxes, then units, each in one COPY (or executemany): parents exist before their children."""
    from app.db.bulk import copy_rows

    n = 0
    for rows in (*levels, units):
        columns = UNIT_COLUMNS if rows is units else CONTAINER_COLUMNS
        copy_rows(conn, "unit" if rows is units else "container", columns, rows)
        n += len(rows)
        rows.clear()
    return n


def hop_costs(base: str, key: str, env: dict[str, str], workdir: Path, gtin: str, rounds: int = 5) -> dict[str, Any]:
    """Shipping a 20-digit case of 1,000 units (10 boxes of 100) against shipping one loose unit, each timed
    end to end (POST /v1/events), median of ``rounds`` of each; the goal is a case hop < 5 x a unit hop."""
    import statistics

    out = bc.run_passport(
        ["orgs", "create", "--name", "Bench Wholesale", "--role", "distributor", "--licence", "drug_wholesale"],
        env,
        workdir,
    )
    to = json.loads(out)["id"]
    batch = bc.create_batch(base, key, gtin, "HOP1")
    path = workdir / "hop.ndjson"
    serial = 9_000_000_000_000
    cases, loose = [], []
    with path.open("w") as handle:
        for _ in range(rounds):
            serial += 1
            case = f"{CN_DRUG_ID}{serial}"
            cases.append(case)
            for _ in range(10):
                serial += 1
                box = f"{CN_DRUG_ID}{serial}"
                for _ in range(100):
                    serial += 1
                    handle.write(json.dumps({"code": f"{CN_DRUG_ID}{serial}", "parent": box}) + "\n")
                handle.write(json.dumps({"code": box, "parent": case}) + "\n")
            handle.write(json.dumps({"code": case, "parent": None}) + "\n")
            serial += 1
            loose.append(f"{CN_DRUG_ID}{serial}")
            handle.write(json.dumps({"code": loose[-1], "parent": None}) + "\n")
    upload(base, key, batch, path)

    def ship(code: str) -> float:
        start = time.perf_counter()
        bc.api_ok(base, "POST", "/v1/events", {"action": "ship", "codes": [code], "to": to}, key)
        return time.perf_counter() - start

    case_ms = statistics.median(ship(c) for c in cases) * 1000
    unit_ms = statistics.median(ship(u) for u in loose) * 1000
    return {
        "case_hop_ms": round(case_ms, 1),
        "unit_hop_ms": round(unit_ms, 1),
        "case_over_unit": round(case_ms / unit_ms, 2),
    }


def run_once(db: str, count: int, workdir: Path, raw: bool) -> dict[str, Any]:
    pg_name = "bench_import"
    url = f"sqlite:///{workdir / f'passport-{count}.db'}" if db == "sqlite" else bc.pg_recreate(pg_name)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    log = workdir / f"server-{db}-{count}.log"
    server = bc.passport_server(
        f"passport serve ({db})", env, workdir, log, "--no-access-log", "--log-level", "warning"
    )
    path = workdir / f"codes-{count}.ndjson"
    lines = write_file(path, count)
    try:
        bc.run_passport(["init"], env, workdir)
        server.start()
        org = bc.create_manufacturer(env, workdir)
        key = org["api_key"]
        gtin = bc.gtin_with_check("0950600013435")
        bc.api_ok(
            server.base,
            "POST",
            "/v1/products",
            {"gtin": gtin, "name": "Bench Amoxicillin", "category": "drug_rx", "cn_drug_id": CN_DRUG_ID},
            key,
        )
        batch = bc.create_batch(server.base, key, gtin, "IMPORT1")
        idle = server.memory()
        seconds, answer = upload(server.base, key, batch, path)
        memory = server.memory()
        if answer["imported"] != lines:
            raise RuntimeError(f"imported {answer['imported']} of {lines} lines")
        result: dict[str, Any] = {
            "db": db,
            "codes": lines,
            "units": answer["units"],
            "packages": answer["packages"],
            "levels": answer["levels"],
            "import_seconds": round(seconds, 2),
            "import_rows_per_s": round(lines / seconds),
            "file_bytes": path.stat().st_size,
            "server_idle": idle,
            "server_after": memory,
        }
        if raw:
            result |= hop_costs(server.base, key, env, workdir, gtin)
            raw_batch = bc.create_batch(server.base, key, gtin, "RAW1")
            raw_seconds, raw_rows = raw_insert(url, raw_batch, count, org["id"])
            result |= {
                "raw_seconds": round(raw_seconds, 2),
                "raw_rows": raw_rows,
                "raw_rows_per_s": round(raw_rows / raw_seconds),
                "ratio": round((lines / seconds) / (raw_rows / raw_seconds), 2),
            }
        return result
    except BaseException:
        print(f"\n--- server log ({log}) ---\n{server.log_tail()}\n---", file=sys.stderr)
        raise
    finally:
        server.stop()
        path.unlink(missing_ok=True)
        if db == "postgresql":
            bc.pg_drop(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="codes in the file (default 1,000,000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--source", help="run another source tree (e.g. a git archive of HEAD)")
    args = parser.parse_args()
    bc.interruptible()
    if args.source:
        bc.use_source(args.source)
    info = {"machine": bc.machine(), "code": bc.code_version()}
    results = []
    for db in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
            small = run_once(db, args.count // 10, Path(tmp), raw=False)
            full = run_once(db, args.count, Path(tmp), raw=True)
        full["peak_rss_kib_small"] = small["server_after"]
        results.append(full)
        print(json.dumps(full, indent=1))
    bc.write_result("bench_import", {**info, "results": results})


if __name__ == "__main__":
    main()
