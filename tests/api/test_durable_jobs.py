"""Capture jobs survive their worker: a job interrupted by kill -9 is marked at restart with what it committed,
and on PostgreSQL any process marks a job whose worker stopped its heartbeat, claiming it with SKIP LOCKED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from app.db.models import EpcisCapture, EpcisEvent
from app.services.epcis import jobs as capture_jobs
from tests.subprocess_server import passport_serve

EVENTS = 2_000


def _document(count: int) -> dict[str, Any]:
    """``count`` distinct ObjectEvents about units nobody commissioned here: each is kept as external history."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": [f"urn:epc:id:sgtin:9506000.013435.K{i}"],
            "action": "OBSERVE",
            "bizStep": "inspecting",
        }
        for i in range(count)
    ]
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-23T08:00:00Z",
        "epcisBody": {"eventList": events},
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_capture_killed_mid_way_is_marked_interrupted_at_restart(database_url, maker, tmp_path):
    log = tmp_path / "serve.log"
    with passport_serve(database_url, log) as served:
        posted = httpx.post(
            f"{served.url}/epcis/capture",
            content=json.dumps(_document(EVENTS)).encode(),
            headers={**maker.headers, "Content-Type": "application/json", "GS1-Capture-Error-Behaviour": "proceed"},
            timeout=60,
        )
        assert posted.status_code == 202, posted.text
        location = posted.headers["location"]
        deadline = time.monotonic() + 120
        while True:
            job = httpx.get(served.url + location, headers=maker.headers, timeout=30).json()
            assert job["running"], f"the capture ended before it could be killed: {job}"
            if job["capturedCount"] > 0:
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.02)
        served.kill_group()  # kill -9: the server and everything it started

    with passport_serve(database_url, log) as restarted:
        job = httpx.get(restarted.url + location, headers=maker.headers, timeout=30).json()
    assert job["running"] is False and job["success"] is False, job
    assert job["finishedAt"] is not None
    interrupted = job["errors"][-1]
    assert interrupted["code"] == "capture_interrupted" and "interrupted" in interrupted["detail"]
    committed = job["capturedCount"]
    assert 0 < committed < EVENTS and interrupted["capturedCount"] == committed
    assert f"{committed} of its {EVENTS} events were captured" in interrupted["detail"]
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.scalar(
                select(func.count()).select_from(EpcisEvent).where(EpcisEvent.capture_id == job["captureID"])
            )
    finally:
        engine.dispose()
    assert stored == committed


def _job(job_id: str, *, worker: str | None, heartbeat_at: datetime | None, org_id: str, now: datetime) -> EpcisCapture:
    return EpcisCapture(
        id=job_id,
        org_id=org_id,
        created_at=now - timedelta(minutes=10),
        running=True,
        success=True,
        error_behaviour="rollback",
        event_count=5,
        errors=[],
        warnings=[],
        worker=worker,
        heartbeat_at=heartbeat_at,
    )


def _dead_local_worker() -> str:
    """The identity a process of this host had, once it has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        identity = capture_jobs.worker_of(child.pid)
    finally:
        child.kill()
        child.wait()
    return identity


def test_jobs_of_dead_local_workers_are_marked_and_live_ones_left_alone(runtime, maker):
    now = datetime.now(UTC)
    dead = _dead_local_worker()
    assert capture_jobs.worker_is_gone(dead)
    alive = capture_jobs.worker_of(os.getppid())
    assert not capture_jobs.worker_is_gone(alive)
    with runtime.sessions.begin() as session:
        session.add(_job("cap-dead", worker=dead, heartbeat_at=now, org_id=maker.id, now=now))
        session.add(_job("cap-alive", worker=alive, heartbeat_at=now, org_id=maker.id, now=now))
        session.add(_job("cap-mine", worker=capture_jobs.current_worker(), heartbeat_at=None, org_id=maker.id, now=now))
        session.add(_job("cap-legacy", worker=None, heartbeat_at=None, org_id=maker.id, now=now))  # before 0010
    assert sorted(capture_jobs.tend(runtime.sessions, now)) == ["cap-dead", "cap-legacy"]
    assert capture_jobs.tend(runtime.sessions, now) == []
    with runtime.sessions() as session:
        jobs = {j.id: j for j in session.scalars(select(EpcisCapture))}
    assert {k for k, j in jobs.items() if j.running} == {"cap-alive", "cap-mine"}
    marked = jobs["cap-dead"]
    assert (marked.success, marked.finished_at, [e["code"] for e in marked.errors]) == (
        False,
        now,
        ["capture_interrupted"],
    )
    assert "nothing of this document was captured" in marked.errors[0]["detail"]


@pytest.mark.postgres_only
def test_postgres_marks_a_silent_worker_on_another_host_and_skips_rows_another_process_holds(runtime, maker, settings):
    now = datetime.now(UTC)
    stale = now - capture_jobs.LEASE - timedelta(seconds=1)
    with runtime.sessions.begin() as session:
        session.add(_job("cap-silent", worker="elsewhere/17/99", heartbeat_at=stale, org_id=maker.id, now=now))
        session.add(_job("cap-held", worker="elsewhere/18/99", heartbeat_at=stale, org_id=maker.id, now=now))
        session.add(_job("cap-beating", worker="elsewhere/19/99", heartbeat_at=now, org_id=maker.id, now=now))
        session.add(
            _job("cap-mine", worker=capture_jobs.current_worker(), heartbeat_at=stale, org_id=maker.id, now=now)
        )
    other = create_engine(settings.database_url)
    try:
        with other.connect() as holder:  # another process, in the middle of working cap-held
            holder.execute(text("SELECT id FROM epcis_capture WHERE id = 'cap-held' FOR UPDATE"))
            assert capture_jobs.tend(runtime.sessions, now) == ["cap-silent"]
            holder.rollback()
        assert capture_jobs.tend(runtime.sessions, now) == ["cap-held"]
    finally:
        other.dispose()
    with runtime.sessions() as session:
        jobs = {j.id: j for j in session.scalars(select(EpcisCapture))}
    assert {k for k, j in jobs.items() if j.running} == {"cap-beating", "cap-mine"}
    assert jobs["cap-mine"].heartbeat_at == now  # this process's job: its heartbeat was stamped
    assert "gave no sign of life" in jobs["cap-silent"].errors[0]["detail"]


def test_sqlite_keeps_no_heartbeat_and_leaves_other_hosts_alone(runtime, maker, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's rule")
    now = datetime.now(UTC)
    stale = now - capture_jobs.LEASE - timedelta(seconds=1)
    with runtime.sessions.begin() as session:
        session.add(_job("cap-far", worker="elsewhere/17/99", heartbeat_at=stale, org_id=maker.id, now=now))
    assert capture_jobs.tend(runtime.sessions, now) == []
