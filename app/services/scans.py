"""Scans for early warning: recorded off the verification hot path, in batches, then triaged.

The verification route only appends an observation to an in-memory buffer; a background task writes the buffer
every second in one transaction and runs the detectors on it:
- an unknown code is first triaged (is it a slip away from a serial we issued? is the GTIN even ours?) and only
  then raised as ``unknown_code``; a bad signature on a code is ``invalid_signature``;
- a known code seen in places too far apart for the time between, or by too many clients, is ``clone_suspect``.
An open alert for the same code is updated (its count grows), not repeated. Observations still in the buffer when
a process dies are lost: they feed early warning, not the custody record.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import Alert, Product, Scan, Unit
from app.domain.triage import Sighting, clone_signals, near_serials
from app.services.clock import utcnow

MAX_BUFFER = 100_000
SEVERITY = {"unknown_code": "medium", "invalid_signature": "high", "clone_suspect": "high"}


@dataclass(frozen=True, slots=True)
class Observation:
    gtin: str
    serial: str
    verdict: str
    reasons: tuple[str, ...]
    client: str
    at: datetime
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class ClonePolicy:
    max_speed_kmh: float = 900.0
    max_clients: int = 20
    window: timedelta = timedelta(hours=24)


class ScanLog:
    def __init__(self, sessions: sessionmaker[Session], secret: bytes, policy: ClonePolicy | None = None) -> None:
        self._sessions = sessions
        self._secret = secret
        self.policy = policy or ClonePolicy()
        self._buffer: deque[Observation] = deque(maxlen=MAX_BUFFER)
        self._flush_lock = threading.Lock()

    def client_id(self, address: str) -> str:
        """A stable pseudonym for a client address (keyed, so the log holds no addresses)."""
        return hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()[:16]

    def observe(self, observation: Observation) -> None:
        self._buffer.append(observation)

    def flush(self) -> int:
        with self._flush_lock:
            batch = [self._buffer.popleft() for _ in range(len(self._buffer))]
            if not batch:
                return 0
            with self._sessions.begin() as session:
                session.connection(execution_options=WRITE_OPTIONS)
                _Detector(session, self.policy).run(batch)
            return len(batch)


class _Detector:
    def __init__(self, session: Session, policy: ClonePolicy) -> None:
        self.session = session
        self.policy = policy

    def run(self, batch: list[Observation]) -> None:
        keys = {(o.gtin, o.serial) for o in batch}
        units = {
            (u.gtin, u.serial): u.id
            for u in self.session.execute(
                select(Unit.gtin, Unit.serial, Unit.id).where(
                    Unit.gtin.in_({g for g, _ in keys}), Unit.serial.in_({s for _, s in keys})
                )
            )
        }
        rows: list[dict[str, Any]] = []
        for o in batch:
            unit_id = units.get((o.gtin, o.serial))
            triage = self._triage(o, unit_id)
            rows.append(
                {
                    "gtin": o.gtin,
                    "serial": o.serial,
                    "unit_id": unit_id,
                    "verdict": o.verdict,
                    "client": o.client,
                    "lat": o.lat,
                    "lon": o.lon,
                    "scanned_at": o.at,
                    "triage": triage,
                }
            )
        self.session.execute(insert(Scan), rows)
        now = max(o.at for o in batch)
        for unit_id in sorted(self._clone_candidates(rows, now)):
            self._clones(unit_id, now)

    def _clone_candidates(self, rows: list[dict[str, Any]], now: datetime) -> set[int]:
        """Units worth a closer look, found with one grouped query per 500 units: those scanned by more distinct
        clients than allowed within the window, and those whose new scan says where it was."""
        scanned = sorted(
            {r["unit_id"] for r in rows if r["unit_id"] is not None and r["verdict"] != "invalid_signature"}
        )
        candidates = {r["unit_id"] for r in rows if r["unit_id"] is not None and r["lat"] is not None}
        for start in range(0, len(scanned), 500):
            candidates.update(
                self.session.scalars(
                    select(Scan.unit_id)
                    .where(Scan.unit_id.in_(scanned[start : start + 500]), Scan.scanned_at >= now - self.policy.window)
                    .group_by(Scan.unit_id)
                    .having(func.count(func.distinct(Scan.client)) > self.policy.max_clients)
                )
            )
        return candidates

    def _triage(self, o: Observation, unit_id: int | None) -> str | None:
        if o.verdict == "invalid_signature":
            self._alert(
                "invalid_signature",
                o,
                unit_id,
                {
                    "reason": "a scanned code carries a signature that does not verify: a forged or altered code",
                    "signature_problem": list(o.reasons),
                },
            )
            return "bad_signature"
        if o.verdict != "unknown":
            return None
        if self.session.get(Product, o.gtin) is None:
            return "foreign_gtin"  # not a product registered here: nothing we can judge
        near = near_serials(o.serial)
        hits = self.session.scalars(select(Unit.serial).where(Unit.gtin == o.gtin, Unit.serial.in_(near))).all()
        if hits:
            return "misscan"  # one slip away from a serial we issued: a scanning or typing error, not a fake
        self._alert(
            "unknown_code",
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
            o = Observation(last.gtin, last.serial, "clone_suspect", (), last.client, last.scanned_at)
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
            self._alert("clone_suspect", o, unit_id, details)

    def _alert(self, kind: str, o: Observation, unit_id: int | None, details: dict[str, Any]) -> None:
        existing = self.session.scalar(
            select(Alert).where(
                Alert.type == kind, Alert.gtin == o.gtin, Alert.serial == o.serial, Alert.status != "closed"
            )
        )
        if existing is not None:  # debounce: one open alert per code and kind, counting repeats
            existing.details = {
                **existing.details,
                "count": int(existing.details.get("count", 1)) + 1,
                "last_seen": o.at.isoformat(),
            }
            existing.updated_at = utcnow()
            return
        self.session.add(
            Alert(
                type=kind,
                severity=SEVERITY[kind],
                unit_id=unit_id,
                gtin=o.gtin,
                serial=o.serial,
                org_id=None,
                created_at=o.at,
                status="open",
                details={**details, "count": 1, "first_seen": o.at.isoformat()},
            )
        )
        self.session.flush()
