"""Scans for early warning: recorded off the verification hot path, in batches, then triaged.

The verification route only appends an observation to an in-memory buffer; a background task writes the buffer
every second in one transaction and runs the detectors on it. The flush shares the process (and its GIL) with the
requests, so its per-scan work is kept to one row tuple: one multi-row insert, one grouped query for the clone
candidates of the whole batch, and ORM work only for the rare scans that may raise an alert.
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
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, BigInteger, String, bindparam, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import WRITE_OPTIONS
from app.db.models import Alert, Product, Scan, Unit
from app.db.types import UTCDateTime
from app.domain.triage import Sighting, clone_signals, near_serials
from app.services.clock import utcnow

MAX_BUFFER = 100_000
MAX_CLIENT_IDS = 65_536  # pseudonyms kept in memory, so a busy client is hashed once, not on every scan
SEVERITY = {"unknown_code": "medium", "invalid_signature": "high", "clone_suspect": "high"}


@dataclass(frozen=True, slots=True)
class Observation:
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
    def __init__(self, sessions: sessionmaker[Session], secret: bytes, policy: ClonePolicy | None = None) -> None:
        self._sessions = sessions
        self._secret = secret
        self.policy = policy or ClonePolicy()
        self._buffer: deque[Observation] = deque(maxlen=MAX_BUFFER)
        self._flush_lock = threading.Lock()
        self._client_ids: dict[str, str] = {}

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
        rows = [
            {
                "gtin": o.gtin,
                "serial": o.serial,
                "unit_id": o.unit_id,
                "verdict": o.verdict,
                "client": o.client,
                "lat": o.lat,
                "lon": o.lon,
                "scanned_at": o.at,
                # Only a bad signature or an unknown code is triaged; the rest need no work here.
                "triage": self._triage(o, o.unit_id) if o.verdict in ("invalid_signature", "unknown") else None,
            }
            for o in batch
        ]
        self.session.connection().execute(insert(Scan.__table__), rows)  # Core executemany, not the ORM
        now = max(o.at for o in batch)
        for unit_id in sorted(self._clone_candidates(rows, now)):
            self._clones(unit_id, now)

    def _clone_candidates(self, rows: list[dict[str, Any]], now: datetime) -> set[int]:
        """Units worth a closer look: those scanned by more distinct clients than allowed within the window (one
        grouped query for the whole batch, the units passed as one array or JSON parameter rather than one bound
        parameter each), and those whose new scan says where it was."""
        scanned = sorted(
            {r["unit_id"] for r in rows if r["unit_id"] is not None and r["verdict"] != "invalid_signature"}
        )
        candidates = {r["unit_id"] for r in rows if r["unit_id"] is not None and r["lat"] is not None}
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


def _too_many_clients(dialect: str) -> Any:
    """Units among ``units`` scanned by more distinct clients than allowed since ``since``.

    Each unit is one range of ``ix_scan_unit_id_scanned_at``."""
    units = "unit_id = ANY(:units)" if dialect == "postgresql" else "unit_id IN (SELECT value FROM json_each(:units))"
    return text(
        f"SELECT unit_id FROM scan WHERE {units} AND scanned_at >= :since "  # noqa: S608 - fixed text
        "GROUP BY unit_id HAVING count(DISTINCT client) > :max_clients"
    ).bindparams(
        bindparam("units", type_=ARRAY(BigInteger) if dialect == "postgresql" else String()),
        bindparam("since", type_=UTCDateTime()),
    )
