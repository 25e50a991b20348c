"""Capture jobs: what a job shows, and how jobs outlive the process that works them (who works a job, its
heartbeat, and the jobs left behind).

A job row names its worker, ``host/pid/start`` (the process's start time tells a live process from a later one
that reuses its pid). :func:`tend` runs when a service starts and then every :data:`HEARTBEAT_SECONDS`:

- on PostgreSQL it stamps ``heartbeat_at`` on the running jobs of this process; a running job whose heartbeat
  is older than :data:`LEASE` belongs to a worker that died (on any host), and any process may mark it;
- on both databases, a running job whose worker was a process of this host that no longer exists is marked at
  once (SQLite has one writer, so one host: a heartbeat would only wait behind the capture holding the lock).

The rows to mark are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (SQLAlchemy's
``with_for_update(skip_locked=True)``), so two processes never mark one job and none waits on a job being worked.
A marked job keeps what it committed (``captured``, ``duplicates``, the errors and warnings of its committed
chunks) and gets an error ``capture_interrupted``; sending the document again resumes it, since every event
already captured counts as a duplicate. See docs/background-work.md.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import EpcisCapture
from app.domain.epcis_fields import ErrorBehaviour
from app.domain.errors import NotFound
from app.domain.orgs import READS_EVERYTHING
from app.services.orgs import Principal

log = logging.getLogger("passport")

LEASE = timedelta(seconds=60)  # no heartbeat for this long (PostgreSQL): the worker is taken for dead
HEARTBEAT_SECONDS = 15.0
MAX_WARNINGS = 1_000  # a job lists the warnings of its first this many events that have something to say

# ------------------------------------------------------------------------------------------ the job as shown


def job_view(job: EpcisCapture) -> dict[str, Any]:
    return {
        "captureID": job.id,
        "createdAt": job.created_at.isoformat().replace("+00:00", "Z"),
        "finishedAt": job.finished_at.isoformat().replace("+00:00", "Z") if job.finished_at else None,
        "running": job.running,
        "success": job.success,
        "captureErrorBehaviour": job.error_behaviour,
        "eventCount": job.event_count,
        "capturedCount": job.captured,
        "duplicateCount": job.duplicates,
        "errors": job.errors,
        # Events captured with something to say: kept as external history, identifiers left out, a duplicate
        # under another eventID... (the first MAX_WARNINGS).
        "warnings": job.warnings,
    }


def get_capture(session: Session, principal: Principal, capture_id: str) -> EpcisCapture:
    job = session.get(EpcisCapture, capture_id)
    if job is None or (job.org_id != principal.org_id and principal.role not in READS_EVERYTHING):
        raise NotFound(f"no capture job {capture_id}", code="capture_not_found")
    return job


def list_captures(session: Session, principal: Principal, limit: int = 100) -> list[EpcisCapture]:
    return list(
        session.scalars(
            select(EpcisCapture)
            .where(EpcisCapture.org_id == principal.org_id)
            .order_by(EpcisCapture.created_at.desc())
            .limit(limit)
        )
    )


# ------------------------------------------------------------------------------------------ workers


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``), '' where there is no ``/proc``,
    None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished: it works no job
        return None
    return fields[19]  # field 22 of proc(5): starttime


@cache
def _host() -> str:
    """This host, and its process id namespace: containers that share a host name do not share pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()[:80]}{'@' + namespace if namespace else ''}"


@cache
def worker_of(pid: int) -> str:
    """A process of this host, as a job row names its worker: ``host/pid/start``."""
    return f"{_host()}/{pid}/{_start_time(pid) or ''}"


def current_worker() -> str:
    """This process, as a job row names its worker."""
    return worker_of(os.getpid())


def worker_is_gone(worker: str) -> bool:
    """True if ``worker`` was a process of this host that no longer runs (unknown for other hosts: False)."""
    parts = worker.rsplit("/", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid, start = parts
    if host != _host():
        return False
    now_there = _start_time(int(pid))
    return now_there is None or (start != "" and now_there != "" and now_there != start)


@dataclass(frozen=True, slots=True)
class _Running:
    id: str
    worker: str | None
    heartbeat_at: datetime | None
    created_at: datetime


def orphan_reason(job: _Running | EpcisCapture, *, me: str, now: datetime, heartbeats: bool) -> str | None:
    """Why ``job`` (running) has nobody working it any more, or None if it may still be worked."""
    if job.worker == me:
        return None
    if job.worker is not None and worker_is_gone(job.worker):
        return f"the process working it ({job.worker}) stopped"
    last = job.heartbeat_at or job.created_at
    if (heartbeats or job.worker is None) and last < now - LEASE:
        return f"its worker ({job.worker or 'unknown'}) gave no sign of life since {last.isoformat()}"
    return None


def interrupted_problem(job: EpcisCapture, why: str) -> dict[str, Any]:
    if job.error_behaviour == ErrorBehaviour.PROCEED:
        kept = f"{job.captured} of its {job.event_count} events were captured (and {job.duplicates} duplicates seen)"
    else:
        kept = "nothing of this document was captured (rollback: the document is one transaction)"
    return {
        "type": "/problems/capture_interrupted",
        "title": "Capture interrupted",
        "detail": f"the capture was interrupted: {why}; {kept}. Send the document again to finish it: the events "
        "already captured count as duplicates",
        "code": "capture_interrupted",
        "capturedCount": job.captured,
    }


def mark_interrupted(job: EpcisCapture, why: str, now: datetime) -> None:
    job.running = False
    job.success = False
    job.finished_at = now
    job.errors = [*job.errors, interrupted_problem(job, why)]


# ------------------------------------------------------------------------------------------ jobs left behind


def heartbeat(session: Session, worker: str, now: datetime) -> int:
    """Stamp this worker's running jobs (skipping one a capture transaction holds: it is plainly alive)."""
    ids = list(
        session.scalars(
            select(EpcisCapture.id)
            .where(EpcisCapture.running.is_(True), EpcisCapture.worker == worker)
            .with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(update(EpcisCapture).where(EpcisCapture.id.in_(ids)).values(heartbeat_at=now))
    return len(ids)


def reap(sessions: sessionmaker[Session], now: datetime, *, heartbeats: bool, me: str | None = None) -> list[str]:
    """Mark the running jobs nobody works any more; their ids. Read first, then claim and re-check in a writing
    transaction, so a quiet service never takes SQLite's write lock for this."""
    me = me or current_worker()
    with sessions.begin() as session:  # ended by COMMIT: see "Periodic reads" in app/db/engine.py
        rows = session.execute(
            select(EpcisCapture.id, EpcisCapture.worker, EpcisCapture.heartbeat_at, EpcisCapture.created_at).where(
                EpcisCapture.running.is_(True)
            )
        ).all()
    candidates = [r.id for r in rows if orphan_reason(_Running(*r), me=me, now=now, heartbeats=heartbeats)]
    if not candidates:
        return []
    marked: list[str] = []
    with sessions.begin() as session:
        session.connection(execution_options=WRITE_OPTIONS)
        claimed = session.scalars(
            select(EpcisCapture)
            .where(EpcisCapture.id.in_(candidates), EpcisCapture.running.is_(True))
            .with_for_update(skip_locked=True)
        )
        for job in claimed:
            why = orphan_reason(job, me=me, now=now, heartbeats=heartbeats)
            if why is not None:
                mark_interrupted(job, why, now)
                marked.append(job.id)
    for job_id in marked:
        log.warning("capture job %s was interrupted; marked failed with what it committed", job_id)
    return marked


def tend(sessions: sessionmaker[Session], now: datetime) -> list[str]:
    """Heartbeat this process's jobs (PostgreSQL) and mark the jobs of dead workers; the ids marked."""
    heartbeats = sessions.kw["bind"].dialect.name != "sqlite"
    me = current_worker()
    if heartbeats:
        with sessions.begin() as session:
            heartbeat(session, me, now)
    return reap(sessions, now, heartbeats=heartbeats, me=me)
