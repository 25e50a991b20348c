"""Scans for early warning: recorded off the verification hot path, in batches, then triaged.

The verification route only appends an observation to an in-memory buffer; a background task hands the buffer
over every second, and the batch is written in one transaction and run through the detectors. In a served process
(``scan_writer="process"``) that work runs in a writer process of its own, at a lower CPU priority: in a thread it
held the GIL for much of every second under load, and every request in flight waited behind it. Its per-scan
work is kept small anyway: one bulk insert (COPY on PostgreSQL), one grouped query over an index for the clone
candidates of the whole batch, and ORM work only for the rare scans that may raise an alert. A batch the database
refuses goes back to the buffer; a full buffer drops its oldest scans and says so.
- an unknown code is first triaged (is it a slip away from a serial we issued? is the GTIN even ours?) and only
  then raised as ``unknown_code``; a bad signature on a code is ``invalid_signature``;
- a known code seen in places too far apart for the time between, or by too many clients, is ``clone_suspect``.
An open alert for the same code is updated (its count grows), not repeated. Observations still in the buffer when
a process dies are lost: they feed early warning, not the custody record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import threading
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, BigInteger, String, bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.db.alerts import raise_alert
from app.db.engine import WRITE_OPTIONS, make_engine, make_sessionmaker
from app.db.models import Product, Scan, Unit
from app.db.scan_log import ScanRow, insert_scans
from app.db.types import UTCDateTime
from app.domain.alerts import SEVERITY, AlertType
from app.domain.triage import Sighting, clone_signals, near_codes
from app.domain.verdict import NOT_OURS, VerdictKind
from app.services.parent_watch import die_with_parent

MAX_BUFFER = 100_000
MAX_CLIENT_IDS = 65_536  # pseudonyms kept in memory, so a busy client is hashed once, not on every scan


class Observation(NamedTuple):
    """One scan as the verification saw it. A tuple: made on every scan, and shipped to the writer by the
    thousand (pickling a batch of slotted dataclasses held the GIL for 18 ms per 3,000 scans, plain tuples 4)."""

    gtin: str
    serial: str
    verdict: str
    reasons: tuple[str, ...]
    client: str
    at: datetime
    unit_id: int | None  # the unit the code names (from the verification lookup); None: never issued
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class ClonePolicy:
    max_speed_kmh: float = 900.0
    max_clients: int = 20
    window: timedelta = timedelta(hours=24)


class ScanLog:
    """The buffer of a serving process. ``writer_url`` given, batches are written by a writer process connected
    to that database (started on the first batch, restarted if it dies); otherwise in the calling thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        secret: bytes,
        policy: ClonePolicy | None = None,
        writer_url: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._secret = secret
        self.policy = policy or ClonePolicy()
        self._buffer: deque[Observation] = deque(maxlen=MAX_BUFFER)
        self._flush_lock = threading.Lock()
        self._client_ids: dict[str, str] = {}
        self._writer_url = writer_url
        self._writer: ProcessPoolExecutor | None = None
        self.dropped = 0  # scans that fell out of a full buffer since the last flush

    def client_id(self, address: str) -> str:
        """A stable pseudonym for a client address (keyed, so the log holds no addresses)."""
        known = self._client_ids.get(address)
        if known is None:
            if len(self._client_ids) >= MAX_CLIENT_IDS:
                self._client_ids.clear()
            known = hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()[:16]
            self._client_ids[address] = known
        return known

    def observe(self, observation: Observation) -> None:
        if len(self._buffer) == self._buffer.maxlen:  # the oldest is about to fall out: say so at the next flush
            self.dropped += 1
        self._buffer.append(observation)

    def flush(self) -> int:
        """Write what is buffered and return how many scans that was; returns once they are committed."""
        with self._flush_lock:
            batch = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if self.dropped:
                logging.getLogger("passport").warning(
                    "%d scans were dropped unrecorded: more arrived than the scan writer kept up with", self.dropped
                )
                self.dropped = 0
            if not batch:
                return 0
            try:
                return self._write(batch)
            except DBAPIError:
                # The transaction rolled back (a database locked too long, or out of reach): nothing of the batch
                # was written, so it goes back to the front of the buffer for the next flush.
                room = (self._buffer.maxlen or 0) - len(self._buffer)
                kept = batch[max(0, len(batch) - room) :]
                self.dropped += len(batch) - len(kept)
                self._buffer.extendleft(reversed(kept))
                raise

    def _write(self, batch: list[Observation]) -> int:
        if self._writer_url is None:
            return write_batch(self._sessions, batch, self.policy)
        if self._writer is None:
            # spawn, not fork: the serving process has threads and open database connections.
            self._writer = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_writer,
                initargs=(self._writer_url,),
            )
        try:
            return self._writer.submit(_write_in_writer, [tuple(o) for o in batch], self.policy).result()
        except BrokenProcessPool:
            # The batch is lost with the writer (it may have been written in part); the next flush starts a new one.
            logging.getLogger("passport").error("the scan writer process died; %d scans lost", len(batch))
            self._writer.shutdown(wait=False)
            self._writer = None
            raise

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id, once started (for operators and tests)."""
        processes = list(getattr(self._writer, "_processes", None) or {})
        return processes[0] if processes else None

    def close(self) -> None:
        """Write what is left and stop the writer process."""
        self.flush()
        with self._flush_lock:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None


def write_batch(sessions: sessionmaker[Session], batch: list[Observation], policy: ClonePolicy) -> int:
    with sessions.begin() as session:
        session.connection(execution_options=WRITE_OPTIONS)
        _Detector(session, policy).run(batch)
    return len(batch)


_writer_sessions: sessionmaker[Session] | None = None  # in a writer process: its own engine


def _start_writer(database_url: str) -> None:
    global _writer_sessions
    die_with_parent()
    # Below the serving processes' priority: on a saturated machine its bursts (a second's scans, ~55 us each on
    # SQLite, mostly the commit's random index pages) otherwise take a core from a worker. On the 1M-unit
    # benchmark: p90 36-40 ms at the same priority, 23-27 ms at nice 10, and 10 % more scans served.
    os.nice(10)
    _writer_sessions = make_sessionmaker(make_engine(database_url))


def _write_in_writer(batch: list[tuple[Any, ...]], policy: ClonePolicy) -> int:
    assert _writer_sessions is not None, "not a scan writer process"
    return write_batch(_writer_sessions, [Observation(*o) for o in batch], policy)


class _Detector:
    def __init__(self, session: Session, policy: ClonePolicy) -> None:
        self.session = session
        self.policy = policy

    def run(self, batch: list[Observation]) -> None:
        rows: list[ScanRow] = [
            (
                o.gtin,
                o.serial,
                o.unit_id,
                o.verdict,
                o.client,
                o.lat,
                o.lon,
                o.at,
                # Only a bad signature or an unknown code is triaged; the rest need no work here.
                self._triage(o, o.unit_id) if o.verdict in NOT_OURS else None,
            )
            for o in batch
        ]
        insert_scans(self.session.connection(), rows)
        now = max(o.at for o in batch)
        for unit_id in sorted(self._clone_candidates(batch, now)):
            self._clones(unit_id, now)

    def _clone_candidates(self, batch: list[Observation], now: datetime) -> set[int]:
        """Units worth a closer look: those scanned by more distinct clients than allowed within the window (one
        grouped query for the whole batch, the units passed as one array or JSON parameter rather than one bound
        parameter each), and those whose new scan says where it was."""
        scanned = sorted(
            {o.unit_id for o in batch if o.unit_id is not None and o.verdict != VerdictKind.INVALID_SIGNATURE}
        )
        candidates = {o.unit_id for o in batch if o.unit_id is not None and o.lat is not None}
        if scanned:
            dialect = self.session.get_bind().dialect.name
            units = scanned if dialect == "postgresql" else json.dumps(scanned)
            since = now - self.policy.window
            query = _too_many_clients(dialect)
            candidates.update(
                self.session.scalars(query, {"units": units, "since": since, "max_clients": self.policy.max_clients})
            )
        return candidates

    def _triage(self, o: Observation, unit_id: int | None) -> str | None:
        if o.verdict == VerdictKind.INVALID_SIGNATURE:
            self._alert(
                AlertType.INVALID_SIGNATURE,
                o,
                unit_id,
                {
                    "reason": "a scanned code carries a signature that does not verify: a forged or altered code",
                    "signature_problem": list(o.reasons),
                },
            )
            return "bad_signature"
        if o.verdict != VerdictKind.UNKNOWN:
            return None
        if self.session.get(Product, o.gtin) is None:
            return "foreign_gtin"  # not a product registered here: nothing we can judge
        near = near_codes(o.serial)
        hits = self.session.scalars(select(Unit.serial).where(Unit.gtin == o.gtin, Unit.serial.in_(near))).all()
        if hits:
            return "misscan"  # one slip away from a serial we issued: a scanning or typing error, not a fake
        self._alert(
            AlertType.UNKNOWN_CODE,
            o,
            None,
            {
                "reason": "a code of a registered product that was never issued, and not one slip away from any "
                "issued serial: a possible counterfeit",
                "candidates_checked": len(near),
            },
        )
        return "unknown"

    def _clones(self, unit_id: int, now: datetime) -> None:
        recent = self.session.execute(
            select(Scan.scanned_at, Scan.client, Scan.lat, Scan.lon, Scan.gtin, Scan.serial)
            .where(Scan.unit_id == unit_id, Scan.scanned_at >= now - self.policy.window)
            .order_by(Scan.scanned_at)
            .limit(500)
        ).all()
        sightings = [Sighting(r.scanned_at, r.client, r.lat, r.lon) for r in recent]
        signals = clone_signals(sightings, max_speed_kmh=self.policy.max_speed_kmh, max_clients=self.policy.max_clients)
        if signals:
            last = recent[-1]
            o = Observation(last.gtin, last.serial, "clone_suspect", (), last.client, last.scanned_at, unit_id)
            details = {
                "reason": "the same code is being scanned "
                + " and ".join(
                    "in places too far apart for the time between the scans"
                    if s.reason == "impossible_travel"
                    else "by more distinct clients than one pack can have"
                    for s in signals
                ),
                "signals": [{"kind": s.reason, **s.data} for s in signals],
            }
            self._alert(AlertType.CLONE_SUSPECT, o, unit_id, details)

    def _alert(self, kind: AlertType, o: Observation, unit_id: int | None, details: dict[str, Any]) -> None:
        raise_alert(  # one open alert per code and kind: a repeat counts on it (app/db/alerts.py)
            self.session,
            type_=kind,
            severity=SEVERITY[kind],
            at=o.at,
            details={**details, "first_seen": o.at.isoformat()},
            unit_id=unit_id,
            gtin=o.gtin,
            serial=o.serial,
        )


def _too_many_clients(dialect: str) -> Any:
    """Units among ``units`` scanned by more distinct clients than allowed since ``since``.

    Each unit is one range of ``ix_scan_unit_id_scanned_at_client``, read without touching the table."""
    units = "unit_id = ANY(:units)" if dialect == "postgresql" else "unit_id IN (SELECT value FROM json_each(:units))"
    return text(
        f"SELECT unit_id FROM scan WHERE {units} AND scanned_at >= :since "  # noqa: S608 - fixed text
        "GROUP BY unit_id HAVING count(DISTINCT client) > :max_clients"
    ).bindparams(
        bindparam("units", type_=ARRAY(BigInteger) if dialect == "postgresql" else String()),
        bindparam("since", type_=UTCDateTime()),
    )
