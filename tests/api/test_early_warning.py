"""Early warning from scans: unknown and badly signed codes (after triage), clones; near misses stay quiet."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from app.db.models import Alert, Scan, Unit
from app.db.scan_log import insert_scans
from app.main import create_app
from app.services import scans as scans_module
from app.services.runtime import Runtime
from app.services.scans import Observation, ScanLog
from tests.helpers import BASE_URL, GTIN, serving, settings_for

JSON = {"Accept": "application/json"}
SHANGHAI = (31.23, 121.47)
URUMQI = (43.83, 87.62)


def alerts(runtime) -> list[tuple[str, int]]:
    with runtime.sessions() as session:
        return [(a.type, a.count) for a in session.scalars(select(Alert).order_by(Alert.id))]


def triages(runtime) -> list[str | None]:
    with runtime.sessions() as session:
        return list(session.scalars(select(Scan.triage).order_by(Scan.id)))


def scan(client, path: str, **params) -> dict:
    response = client.get(path, params=params or None, headers=JSON)
    assert response.status_code == 200, response.text
    return response.json()


def test_unknown_code_is_triaged_before_it_alerts(client, runtime, batch, issue):
    serial = issue(batch["id"], 1)[0]["serial"]
    slip = ("3" if serial[0] != "3" else "4") + serial[1:]
    assert scan(client, f"/01/{GTIN}/21/{slip}")["verdict"] == "unknown"
    assert scan(client, f"/01/{GTIN}/21/{serial.lower()}")["verdict"] == "unknown"
    assert scan(client, "/01/04006381333931/21/ZZZZZZZZZZZZ")["verdict"] == "unknown"
    runtime.scans.flush()
    assert triages(runtime) == ["misscan", "misscan", "foreign_gtin"]
    assert alerts(runtime) == []
    for _ in range(2):
        scan(client, f"/01/{GTIN}/21/QQQQQQQQQQQQ")
    runtime.scans.flush()
    assert alerts(runtime) == [("unknown_code", 2)]


def test_a_bad_signature_alerts(client, runtime, batch, issue):
    uri = issue(batch["id"], 1)[0]["uri"]
    forged = uri[:-2] + ("AA" if not uri.endswith("AA") else "BA")
    assert scan(client, forged.replace(BASE_URL, ""))["verdict"] == "invalid_signature"
    runtime.scans.flush()
    assert alerts(runtime) == [("invalid_signature", 1)]


def test_impossible_travel_is_a_clone_but_one_city_is_not(client, runtime, batch, issue):
    first, second = (c["uri"].replace(BASE_URL, "") for c in issue(batch["id"], 2))
    for _ in range(3):  # a double-fired scanner and a second look in the same shop
        scan(client, first, lat=SHANGHAI[0], lon=SHANGHAI[1])
    runtime.scans.flush()
    assert alerts(runtime) == []
    scan(client, second, lat=SHANGHAI[0], lon=SHANGHAI[1])
    scan(client, second, lat=URUMQI[0], lon=URUMQI[1])  # 3,300 km away a moment later
    runtime.scans.flush()
    assert alerts(runtime) == [("clone_suspect", 1)]
    body = scan(client, second)
    assert body["verdict"] == "suspect" and "clone_suspect" in body["reasons"]
    assert scan(client, first)["verdict"] == "authentic"


@pytest.mark.parametrize("clients", [3, 4])
def test_many_clients_make_a_clone(settings, runtime, batch, issue, clients):
    path = issue(batch["id"], 1)[0]["uri"].replace(BASE_URL, "")
    limited = settings_for(settings.database_url, clone_max_clients=3)
    runtime.scans.policy = runtime.scans.policy.__class__(max_clients=3)
    for n in range(clients):
        with TestClient(create_app(limited, runtime), client=(f"198.51.100.{n + 1}", 4000)) as phone:
            assert phone.get(path, headers=JSON).status_code == 200
    runtime.scans.flush()
    assert alerts(runtime) == ([("clone_suspect", 1)] if clients > 3 else [])


def test_every_scan_is_recorded_under_concurrent_load(server, runtime, batch, issue):
    """64 clients at once, as in the benchmark: every scan lands in the scan table, with the unit it names."""
    codes = issue(batch["id"], 20)
    paths = [c["uri"].replace(BASE_URL, "") for c in codes] * 10 + [f"/01/{GTIN}/21/QQQQQQQQQQQQ"] * 8

    def get(path: str) -> str:
        request = urllib.request.Request(server + path, headers=JSON)
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["verdict"])

    with ThreadPoolExecutor(64) as pool:
        verdicts = list(pool.map(get, paths))
    assert verdicts.count("authentic") == 200 and verdicts.count("unknown") == 8
    runtime.scans.flush()
    with runtime.sessions() as session:
        unit_ids = {serial: id_ for serial, id_ in session.execute(select(Unit.serial, Unit.id))}
        scans = session.execute(select(Scan.serial, Scan.unit_id, Scan.verdict)).all()
    assert len(scans) == len(paths)
    assert Counter(s.serial for s in scans) == Counter(path.split("/")[-1].split("?")[0] for path in paths)
    assert all(s.unit_id == unit_ids.get(s.serial) for s in scans)
    assert {s.verdict for s in scans if s.unit_id is None} == {"unknown"}


def test_a_bad_signature_on_an_issued_code_is_recorded_against_its_unit(client, runtime, batch, issue):
    uri = issue(batch["id"], 1)[0]["uri"]
    forged = uri[:-2] + ("AA" if not uri.endswith("AA") else "BA")
    assert scan(client, forged.replace(BASE_URL, ""))["verdict"] == "invalid_signature"
    runtime.scans.flush()
    with runtime.sessions() as session:
        unit_id = session.scalar(select(Unit.id))
        assert session.scalars(select(Scan.unit_id)).all() == [unit_id]
        assert session.scalars(select(Alert.unit_id)).all() == [unit_id]


def test_a_served_process_writes_its_scans_in_a_writer_process(database_url, batch, issue):
    """The production set-up: batches go to a process of their own, so the requests never wait behind them.
    Scans land and alerts are raised without anyone calling flush; a writer that dies is replaced; what is
    buffered at shutdown is written."""
    settings = settings_for(database_url, scan_writer="process", scan_flush_seconds=0.2)
    runtime = Runtime.start(settings)
    good = issue(batch["id"], 1)[0]["uri"]
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BA")

    def scans_recorded() -> int:
        with runtime.sessions() as session:
            return len(session.scalars(select(Scan.id)).all())

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 30
        while scans_recorded() < count:
            assert time.monotonic() < deadline, f"{scans_recorded()} scans recorded, waiting for {count}"
            time.sleep(0.05)

    with serving(create_app(settings, runtime)) as url:

        def get(uri: str) -> str:
            request = urllib.request.Request(uri.replace(BASE_URL, url), headers=JSON)
            with urllib.request.urlopen(request, timeout=30) as response:
                return str(json.load(response)["verdict"])

        assert get(good) == "authentic" and get(forged) == "invalid_signature"
        wait_for(2)
        first = runtime.scans.writer_pid
        assert first is not None and first != os.getpid()
        assert alerts(runtime) == [("invalid_signature", 1)]

        os.kill(first, signal.SIGKILL)  # the writer dies; a later batch starts another
        deadline = time.monotonic() + 30
        while scans_recorded() < 3:
            assert time.monotonic() < deadline, "no new writer took over"
            get(good)  # batches that meet the dead writer are lost (early warning, not the custody record)
            time.sleep(0.3)
        assert runtime.scans.writer_pid not in (None, first)

        runtime.scans.flush()  # nothing of the loop above left in the buffer
        recorded = scans_recorded()
        runtime.scans.observe(  # buffered, not yet written, when the server stops
            Observation(GTIN, "QQQQQQQQQQQQ", "unknown", (), "shutdown", datetime.now(UTC), None)
        )
    assert scans_recorded() == recorded + 1
    assert runtime.scans.writer_pid is None  # stopped with the server


def test_scans_beyond_a_full_buffer_are_dropped_oldest_first_and_reported(runtime, monkeypatch, caplog):
    monkeypatch.setattr(scans_module, "MAX_BUFFER", 5)
    log = ScanLog(runtime.sessions, b"k" * 32)
    for n in range(8):
        log.observe(Observation(GTIN, f"SERIAL{n}", "unknown", (), "c", datetime.now(UTC), None))
    with caplog.at_level(logging.WARNING, logger="passport"):
        assert log.flush() == 5
    assert "3 scans were dropped unrecorded" in caplog.text
    with runtime.sessions() as session:
        assert session.scalars(select(Scan.serial).order_by(Scan.id)).all() == [f"SERIAL{n}" for n in range(3, 8)]
    caplog.clear()
    log.observe(Observation(GTIN, "SERIAL9", "unknown", (), "c", datetime.now(UTC), None))
    assert log.flush() == 1 and "dropped" not in caplog.text  # reported once


def test_a_batch_the_database_refuses_is_kept_for_the_next_flush(runtime, monkeypatch):
    log = ScanLog(runtime.sessions, b"k" * 32)
    write = scans_module.write_batch
    calls = []

    def locked_once(*args):
        calls.append(len(args[1]))
        if len(calls) == 1:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return write(*args)

    monkeypatch.setattr(scans_module, "write_batch", locked_once)
    for n in range(3):
        log.observe(Observation(GTIN, f"SERIAL{n}", "unknown", (), "c", datetime.now(UTC), None))
    with pytest.raises(OperationalError):
        log.flush()
    log.observe(Observation(GTIN, "SERIAL3", "unknown", (), "c", datetime.now(UTC), None))
    assert log.flush() == 4 and calls == [3, 4]
    with runtime.sessions() as session:  # nothing lost, nothing twice, in the order scanned
        assert session.scalars(select(Scan.serial).order_by(Scan.id)).all() == [f"SERIAL{n}" for n in range(4)]


def test_the_bulk_scan_insert_stores_what_the_orm_would(runtime):
    """insert_scans goes below the ORM (COPY on PostgreSQL): the rows must read back the same as ORM-written ones,
    times included (SQLite keeps them as text, compared as text by the clone window)."""
    at = datetime(2026, 11, 23, 6, 30, 0, tzinfo=UTC)  # whole seconds: the format most easily got wrong
    with runtime.sessions.begin() as session:
        session.add(Scan(gtin=GTIN, serial="ORM", verdict="unknown", client="c", scanned_at=at, lat=1.5, lon=None))
        session.flush()
        insert_scans(session.connection(), [(GTIN, "BULK", None, "unknown", "c", 1.5, None, at, "misscan")])
    with runtime.sessions() as session:
        orm, bulk = session.execute(select(Scan).order_by(Scan.id)).scalars().all()
        assert (bulk.scanned_at, bulk.lat, bulk.lon, bulk.unit_id, bulk.triage) == (at, 1.5, None, None, "misscan")
        assert orm.scanned_at == bulk.scanned_at
        raw = session.execute(text("SELECT scanned_at FROM scan ORDER BY id")).scalars().all()
    assert raw[0] == raw[1]
