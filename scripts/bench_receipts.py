#!/usr/bin/env python3
"""Benchmark sale receipts (issue 20): what signing a receipt per unit costs a bulk sale of 10,000 units.

For each database (SQLite file in a temporary directory, PostgreSQL database ``bench_receipts``), on a fresh database
(``passport init``): a manufacturer and a drug_retail pharmacy, a drug_otc product and a batch, N units issued,
shipped and received through the API (in process: the app under Starlette's TestClient, so the figures are the
request's own work, not HTTP). Then, --reps times, a new set of N units is sold in one event
(``{"action": "sell", "codes": [N codes]}``), timed from request to answer, and in the same run:

- ``receipts``: ``receipts.receipts_for`` alone for that sale (the query of its units and the signing), as the
  request ran it: the share of the sale's time it takes is the figure; goal: it must not dominate (below 0.5).
- ``sign rate``: N receipts signed by ``jws.sign_many`` (one key object) and by ``sign_compact`` one by one (a key
  object per token, how the partner answers are signed), tokens per second.

Prints a table and writes bench-results/receipts.json. Usage: scripts/bench_receipts.py [--units 10000] [--reps 3]
[--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import bench_common as bc
from fastapi.testclient import TestClient

from app.config import Settings
from app.domain.jws import sign_compact
from app.domain.receipts import RECEIPT_TYPE, Receipt, sign_receipts
from app.main import create_app
from app.services import orgs, receipts
from app.services.runtime import Runtime

GTIN = "09506000134352"
BASE_URL = "https://passport.bench"
PG_NAME = "bench_receipts"
GOAL = 0.5
TODAY = datetime.now(UTC).date()


def prepare(settings: Settings) -> None:
    from app.cli import init

    init(settings)


def run(database_url: str, units: int, reps: int, workdir: Path) -> dict[str, Any]:
    settings = Settings(
        database_url=database_url,
        master_key_file=str(workdir / "master.key"),
        base_url=BASE_URL,
        verify_rate_limit="0",
        signing_workers=1,
        scan_writer="inline",
    )
    prepare(settings)
    runtime = Runtime.start(settings)
    try:
        with runtime.sessions.begin() as session:
            maker = orgs.create_org(session, name="maker", role="manufacturer", licences=["drug_manufacturing"])
            shop = orgs.create_org(session, name="shop", role="retailer", licences=["drug_retail"], licensed_from=TODAY)
        maker_h = {"Authorization": f"Bearer {maker[1]}"}
        shop_h = {"Authorization": f"Bearer {shop[1]}"}
        with TestClient(create_app(settings, runtime), raise_server_exceptions=True) as client:
            product = {"gtin": GTIN, "name": "Paracetamol 500 mg", "category": "drug_otc"}
            assert client.post("/v1/products", json=product, headers=maker_h).status_code == 201
            lot = {"gtin": GTIN, "lot": "B1", "manufactured_on": str(TODAY - timedelta(days=5)),
                   "expires_on": str(TODAY + timedelta(days=700))}  # fmt: skip
            batch = client.post("/v1/batches", json=lot, headers=maker_h).json()
            rows: list[dict[str, Any]] = []
            for _ in range(reps):
                issued = client.post(f"/v1/batches/{batch['id']}/codes", json={"count": units}, headers=maker_h)
                codes = [c["uri"] for c in issued.json()["codes"]]
                ship = {"action": "ship", "codes": codes, "to": shop[0].id}
                assert client.post("/v1/events", json=ship, headers=maker_h).status_code == 201
                receive = {"action": "receive", "codes": codes}
                assert client.post("/v1/events", json=receive, headers=shop_h).status_code == 201

                started = time.perf_counter()
                answer = client.post(
                    "/v1/events", json={"action": "sell", "codes": codes, "channel": "offline"}, headers=shop_h
                )
                sale = time.perf_counter() - started
                assert answer.status_code == 201, answer.text
                [result] = answer.json()["results"]
                assert len(result["receipts"]) == units

                with runtime.sessions() as session, session.begin():
                    signer = runtime.keyring.current_signer(session)
                    started = time.perf_counter()
                    again = receipts.receipts_for(session, [result["event_id"]], lambda s=signer: s, BASE_URL)
                    alone = time.perf_counter() - started
                assert again[result["event_id"]] == result["receipts"]  # the same tokens as the sale's answer

                drafts = [
                    Receipt(GTIN, f"S{i:08d}", 1, i, datetime.now(UTC), "CN-31", "offline", "sell", BASE_URL)
                    for i in range(units)
                ]
                started = time.perf_counter()
                sign_receipts(drafts, signer)
                many = time.perf_counter() - started
                started = time.perf_counter()
                for draft in drafts:
                    sign_compact(draft.claims(), signer, typ=RECEIPT_TYPE)
                one_by_one = time.perf_counter() - started
                rows.append(
                    {"sale_s": sale, "receipts_s": alone, "share": alone / sale,
                     "sign_many_per_s": units / many, "sign_compact_per_s": units / one_by_one}
                )  # fmt: skip
        return {
            "units": units,
            "runs": rows,
            "median": {key: statistics.median(r[key] for r in rows) for key in rows[0]},
        }
    finally:
        runtime.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    results: dict[str, Any] = {"machine": info, "code": bc.code_version(), "goal_share_below": GOAL}
    table: list[list[Any]] = []
    for db in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if db == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            else:
                url = bc.pg_recreate(PG_NAME).replace("postgresql://", "postgresql+psycopg://")
            try:
                found = run(url, args.units, args.reps, Path(tmp))
            finally:
                if db != "sqlite":
                    bc.pg_drop(PG_NAME)
        results[db] = found
        m = found["median"]
        table.append(
            [db, f"{m['sale_s']:.2f}", f"{m['receipts_s']:.2f}", f"{m['share']:.2f}",
             "met" if m["share"] < GOAL else "MISSED", bc.fmt_int(m["sign_many_per_s"]),
             bc.fmt_int(m["sign_compact_per_s"])]
        )  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    print(
        bc.table(
            ["database", f"sale of {args.units:,} (s)", "receipts (s)", "share of the sale", f"goal < {GOAL}",
             "sign_many tokens/s", "sign_compact tokens/s"],
            table,
        )
    )  # fmt: skip
    print(f"written to {bc.write_result('receipts', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
