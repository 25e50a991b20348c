#!/usr/bin/env python3
"""EPCIS capture benchmark: events per second through ``POST /epcis/capture`` for one 10,000-event document,
beside the native ``POST /v1/events`` rate for the same journey, in the same run, on SQLite and PostgreSQL.

The journey: the manufacturer ships N units to a distributor, one event per unit (N = 10,000 by default). As
EPCIS: one EPCISDocument of N ObjectEvents (bizStep shipping, destination the distributor's party GLN), timed
from the POST to the capture job's end, with GS1-Capture-Error-Behaviour rollback (one transaction) and with
proceed (a transaction every 200 events). Natively: the same N events for N other units, in lists of 1,000
(the /v1/events limit). Every unit ends in transit, which is checked in the database. Beside the wall-clock rate,
each step's **service CPU** (the server process and, on PostgreSQL, this database's own backends) gives the ratio
by CPU, which a machine shared with other work moves much less than the wall clock. Before anything is measured,
one one-event capture warms the server up (:func:`warm_up`: the schema's one-off compilation).

With ``--xml 2.0`` (the default) or ``--xml 1.2`` the same journey is also captured, for N other units, as one EPCIS
XML document of that version (``Content-Type: application/xml``; 1.2 puts the destinationList in the event's
extension), in each mode, right after its JSON twin: the XML rate is printed beside the JSON rate of the same run
(issue 18's goal: at least 0.8 of JSON). ``--xml none`` skips it.

    .venv/bin/python scripts/bench_epcis.py [--events 10000] [--db sqlite|postgresql|both] [--xml 2.0|1.2|none]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

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


def xml_document(uris: list[str], version: str) -> bytes:
    """The journey of :func:`epcis_document` as an EPCIS XML document (2.0, or 1.2 with its extension wrapper)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    namespace = "urn:epcglobal:epcis:xsd:2" if version == "2.0" else "urn:epcglobal:epcis:xsd:1"
    party = (
        "<destinationList><destination type='urn:epcglobal:cbv:sdt:owning_party'>"
        f"urn:epc:id:pgln:{DIST_GLN[:7]}.{DIST_GLN[7:12]}</destination></destinationList>"
    )
    later = party if version == "2.0" else f"<extension>{party}</extension>"
    events = "".join(
        f"<ObjectEvent><eventTime>{(start + timedelta(milliseconds=i)).isoformat()}</eventTime>"
        f"<eventTimeZoneOffset>+00:00</eventTimeZoneOffset><epcList><epc>{escape(uri)}</epc></epcList>"
        "<action>OBSERVE</action><bizStep>urn:epcglobal:cbv:bizstep:shipping</bizStep>"
        f"<disposition>urn:epcglobal:cbv:disp:in_transit</disposition>{later}</ObjectEvent>"
        for i, uri in enumerate(uris)
    )
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><epcis:EPCISDocument xmlns:epcis='{namespace}' "
        f"schemaVersion='{version}' creationDate='{datetime.now(UTC).isoformat()}'><EPCISBody><EventList>"
        f"{events}</EventList></EPCISBody></epcis:EPCISDocument>"
    ).encode()


POLL_SECONDS = 0.25  # how often the job is asked whether it has ended (see capture())
POLLS_METERED = 50


def capture(
    base: str, key: str, document: dict[str, Any] | bytes, behaviour: str, poll: float = POLL_SECONDS
) -> tuple[float, dict[str, Any]]:
    """POST the document and wait for its job to end: the seconds from just before the POST to the job's
    ``finishedAt`` (the server's clock, on this machine), and the job. Timed by ``finishedAt`` rather than by the
    poll that finds the job ended, so how often it is polled moves neither the time (by up to one interval) nor,
    much, the service CPU: every poll is a request the server answers (what one costs is metered and printed once
    per database), charged to the capture; at 50 ms, the interval until the eighth session, a 2-second capture paid
    for ~40 of them."""
    xml = isinstance(document, bytes)
    headers = {
        "Content-Type": "application/xml" if xml else "application/ld+json",
        "Authorization": f"Bearer {key}",
        "GS1-Capture-Error-Behaviour": behaviour,
    }
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    request = urllib.request.Request(base + "/epcis/capture", data=data, method="POST", headers=headers)
    started, start = datetime.now(UTC), time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            if response.status != 202:
                raise RuntimeError(f"capture -> {response.status}")
            location = response.headers["Location"]
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"capture -> {error.code}: {error.read()[:600]!r}") from None
    while True:
        time.sleep(poll)
        job = bc.api_ok(base, "GET", location, key=key)
        if not job["running"]:
            break
    if job.get("finishedAt"):
        finished = datetime.fromisoformat(job["finishedAt"].replace("Z", "+00:00"))
        return (finished - started).total_seconds(), job
    return time.perf_counter() - start, job


def warm_up(base: str, key: str) -> None:
    """One capture of a one-event document before anything is measured: a fresh server compiles GS1's JSON schema
    (fastjsonschema, ~0.4 s of CPU once per process) and fills the CBV hash's caches at its first capture, which
    would otherwise be charged to whichever mode is measured first. The event observes an EPC Passport does not
    know, so no unit moves; its outcome is not checked."""
    document = epcis_document(["urn:epc:id:sgtin:0614141.107346.warmup"])
    event = document["epcisBody"]["eventList"][0]
    event.update(bizStep="inspecting", disposition="active")
    del event["destinationList"]
    capture(base, key, document, "proceed", poll=0.05)


class _Profile:
    """``py-spy record`` of the server while a step runs (``--profile DIR``): collapsed stacks per step
    (``DIR/{db}-{step}.txt``), for flamegraph tools or a grep. A no-op without ``--profile``."""

    def __init__(self, directory: Path | None, pid: int, name: str) -> None:
        self.directory, self.pid, self.name = directory, pid, name
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Profile:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            out = self.directory / f"{self.name}.txt"
            argv = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(self.pid), "--subprocesses"]
            self.proc = subprocess.Popen(
                [*argv, "--format", "raw", "--rate", "200", "--nonblocking", "--output", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # py-spy attaches
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
            self.proc.wait(60)


def run_db(
    db: str,
    events: int,
    behaviours: list[str],
    workdir: Path,
    xml: str,
    profile: Path | None = None,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    url = bc.db_url(db, workdir, PG_NAME)
    env = bc.passport_env(url, workdir, PASSPORT_VERIFY_RATE_LIMIT="0")
    server = bc.db_server(db, env, workdir)
    epcis_seconds: dict[str, float] = {}
    epcis_cpu: dict[str, float] = {}
    xml_seconds: dict[str, float] = {}
    poll_cpu: list[float] = []

    def own_pids() -> list[int]:  # the server and this database's own backends (not the shared background ones)
        backends = [p for p in bc.postgres_pids(PG_NAME) if f" {PG_NAME} " in bc.cmdline(p)] if db != "sqlite" else []
        return [server.pid, *bc.children(server.pid), *backends]

    meter = bc.CpuMeter(own_pids)
    batches = len(behaviours) * (2 if xml != "none" else 1) + 1
    with bc.serving(server, db, PG_NAME):
        bc.run_passport(["init"], env, workdir)
        server.start()
        base = server.base
        # licensed from yesterday: the EPCIS events happened an hour ago, which just after midnight (UTC) is before
        # a licence granted today stands (licence_required)
        since = ["--licensed-from", (datetime.now(UTC).date() - timedelta(days=1)).isoformat()]
        args = ["orgs", "create", "--name", "Bench Pharma", "--role", "manufacturer", "--region", "CN-31"]
        maker = json.loads(bc.run_passport([*args, "--licence", "drug_manufacturing", *since], env, workdir))
        args = ["orgs", "create", "--name", "Bench Distribution", "--role", "distributor"]
        dist = json.loads(
            bc.run_passport([*args, "--gln", DIST_GLN, "--licence", "drug_wholesale", *since], env, workdir)
        )
        key = maker["api_key"]
        gtin = bc.gtin_with_check("0950600013435")
        product = {"gtin": gtin, "name": "Bench Paracetamol", "category": "drug_otc"}
        bc.api_ok(base, "POST", "/v1/products", product, key)
        warm_up(base, key)
        print(f"[{db}] issuing {batches} x {events:,} units ...", flush=True)
        native_uris = issue_all(base, key, bc.create_batch(base, key, gtin, "NATIVE"), events)
        for behaviour in behaviours:
            uris = issue_all(base, key, bc.create_batch(base, key, gtin, f"EPCIS-{behaviour}"), events)
            bc.wait_for_quiet(30)
            document = epcis_document(uris)
            with _Profile(profile, server.pid, f"{db}-epcis-{behaviour}"):
                meter.start()
                seconds, job = capture(base, key, document, behaviour, poll)
                epcis_cpu[behaviour] = meter.stop()
            if not job["success"] or job["capturedCount"] != events:
                raise RuntimeError(f"capture job failed: {str(job)[:600]}")
            epcis_seconds[behaviour] = seconds
            if not poll_cpu:  # what one poll of a job costs the service (the capture pays for its polls)
                meter.start()
                for _ in range(POLLS_METERED):
                    bc.api_ok(base, "GET", f"/epcis/capture/{job['captureID']}", key=key)
                poll_cpu.append(meter.stop() / POLLS_METERED)
                print(f"  one job poll: {poll_cpu[0] * 1000:.2f} ms of service CPU ({POLLS_METERED} polls)")
            print(
                f"  EPCIS {behaviour:9} {events:,} events in {seconds:7.2f} s  {events / seconds:8.0f} events/s"
                f"  service CPU {epcis_cpu[behaviour]:6.2f} s"
            )
            if xml == "none":
                continue
            uris = issue_all(base, key, bc.create_batch(base, key, gtin, f"XML-{behaviour}"), events)
            bc.wait_for_quiet(30)
            seconds, job = capture(base, key, xml_document(uris, xml), behaviour, poll)
            if not job["success"] or job["capturedCount"] != events:
                raise RuntimeError(f"XML capture job failed: {str(job)[:600]}")
            xml_seconds[behaviour] = seconds
            print(
                f"  XML {xml} {behaviour:7} {events:,} events in {seconds:7.2f} s  {events / seconds:8.0f} events/s"
                f"  ({epcis_seconds[behaviour] / seconds:.2f} of JSON)"
            )

        bc.wait_for_quiet(30)
        with _Profile(profile, server.pid, f"{db}-native"):
            meter.start()
            start = time.perf_counter()
            for i in range(0, events, NATIVE_CHUNK):
                chunk = native_uris[i : i + NATIVE_CHUNK]
                post_events(base, key, [{"action": "ship", "codes": [u], "to": dist["id"]} for u in chunk])
            seconds_native = time.perf_counter() - start
            cpu_native = meter.stop()
        print(
            f"  native          {events:,} events in {seconds_native:7.2f} s  {events / seconds_native:8.0f} events/s"
            f"  service CPU {cpu_native:6.2f} s"
        )

        moved = scalar(url, f"SELECT count(*) FROM unit WHERE state = 'in_transit' AND to_id = '{dist['id']}'")
        if moved != batches * events:
            raise RuntimeError(f"{moved} units in transit, expected {batches * events}")
    return {
        "db": db,
        "events": events,
        "native_seconds": round(seconds_native, 3),
        "native_events_per_s": round(events / seconds_native),
        "native_cpu_seconds": round(cpu_native, 3),
        "poll_seconds": poll,
        "poll_cpu_ms": round(poll_cpu[0] * 1000, 3) if poll_cpu else None,
        "epcis": {
            behaviour: {
                "seconds": round(seconds, 3),
                "events_per_s": round(events / seconds),
                "ratio_to_native": round(seconds_native / seconds, 3),
                "cpu_seconds": round(epcis_cpu[behaviour], 3),
                "cpu_ratio_to_native": round(cpu_native / epcis_cpu[behaviour], 3),
                **(
                    {
                        "xml": {
                            "version": xml,
                            "seconds": round(xml_seconds[behaviour], 3),
                            "events_per_s": round(events / xml_seconds[behaviour]),
                            "ratio_to_json": round(seconds / xml_seconds[behaviour], 3),
                        }
                    }
                    if behaviour in xml_seconds
                    else {}
                ),
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
    parser.add_argument(
        "--xml",
        choices=("2.0", "1.2", "none"),
        default="2.0",
        help="also capture the journey as EPCIS XML of this version, beside JSON (default 2.0)",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy record the server during each step into DIR (collapsed stacks)"
    )
    parser.add_argument(
        "--poll", type=float, default=POLL_SECONDS, help=f"seconds between job polls (default {POLL_SECONDS})"
    )
    parser.add_argument("--source", help="run another source tree (e.g. a git archive of HEAD) as the service")
    args = parser.parse_args(argv)
    if args.source:
        bc.use_source(args.source)
    behaviours = args.behaviour or ["rollback", "proceed"]
    bc.interruptible()
    info = bc.machine()
    print(bc.machine_line(info), flush=True)
    rows = []
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        with tempfile.TemporaryDirectory(prefix=f"bench-epcis-{db}-") as tmp:
            rows.append(run_db(db, args.events, behaviours, Path(tmp), args.xml, args.profile, args.poll))
    print()
    print(
        bc.table(
            [
                "database",
                "events",
                "capture mode",
                "EPCIS JSON events/s",
                "native /v1/events events/s",
                "JSON / native",
                "by service CPU",
                "EPCIS XML events/s",
                "XML / JSON (goal >= 0.8)",
            ],
            [
                [
                    r["db"],
                    f"{r['events']:,}",
                    mode,
                    e["events_per_s"],
                    r["native_events_per_s"],
                    e["ratio_to_native"],
                    e["cpu_ratio_to_native"],
                    e["xml"]["events_per_s"] if "xml" in e else "-",
                    e["xml"]["ratio_to_json"] if "xml" in e else "-",
                ]
                for r in rows
                for mode, e in r["epcis"].items()
            ],
        )
    )
    bc.write_result("epcis", {"machine": info, "code": bc.code_version(), "results": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
