"""Public verification: the hottest path of the service, one indexed lookup and one signature check per scan.

It goes below the ORM on purpose (one driver-level query on a connection of its own, no session; on PostgreSQL the
codes of concurrent scans share one statement, see ``app.db.lookups``): a consumer scan must stay far under the
EU's 300 ms even when thousands arrive each second. A unit with a history (a sold pack: the scan consumers make
most) has its journey and container-aware state in the same statement, as its last column (``app.db.journeys``);
only a product with recalls, or a nesting too deep for that statement, is read the slow way, in a worker thread
through ``app.services.units`` (the same answer, which tests compare).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from app.db.engine import make_read_engine
from app.db.lookups import LookupFailed, PerLoop, journey_rows, unit_lookups
from app.db.replicas import ReadReplicas, Replica
from app.db.units import UnitRow, unit_row
from app.domain.consumer import CONSUMER_STEP, consumer_step, suspect_flags
from app.domain.custody import PUBLIC_STATE, Status
from app.domain.errors import InvalidCode
from app.domain.identifiers import UnitCode
from app.domain.recall import RecallScope, most_severe
from app.domain.signing import decode_signature
from app.domain.verdict import NOT_OURS, UnitFacts, Verdict, judge
from app.services.clock import today
from app.services.keys import KeyRing
from app.services.recalls import covering
from app.services.units import effective_custody, issued_step, journey

READER_THREADS = 4


@dataclass(frozen=True, slots=True)
class Verification:
    scan: UnitCode
    verdict: Verdict
    row: UnitRow | None  # None unless the verdict may show the record (never for a bad signature)
    state: str | None = None  # public state, container-aware
    journey: tuple[dict[str, Any], ...] = ()
    recall: RecallScope | None = None
    unit_id: int | None = None  # the unit the code names, for the scan record, even when the row is withheld

    def as_json(self) -> dict[str, Any]:
        row = self.row
        return {
            "verdict": self.verdict.kind,
            "signature": self.verdict.signature,
            "state": self.state if row else None,
            "product": (
                {
                    "gtin": self.scan.gtin,
                    "name": row.product_name,
                    "category": row.category,
                    "manufacturer": row.manufacturer,
                }
                if row
                else None
            ),
            "lot": row.lot if row else None,
            "expires_on": row.expires_on.isoformat() if row else None,
            "recall": (
                {
                    "id": self.recall.id,
                    "class": self.recall.recall_class,
                    "reason": self.recall.reason,
                    "instructions": self.recall.instructions,
                }
                if row and self.recall
                else None
            ),
            "reasons": list(self.verdict.reasons),
            "journey": list(self.journey) if row else [],
        }


class Verifier:
    def __init__(self, engine: Engine, keyring: KeyRing, replicas: ReadReplicas | None = None) -> None:
        self._engine = engine
        self._keyring = keyring
        self._lookups = unit_lookups(engine)
        # Standbys within the lag limit answer scans, each through a Verifier of its own; what one does not know
        # (a code issued a moment ago), or fails to answer, is asked of the primary.
        self._replicas = replicas
        self._on_replica: dict[Replica, Verifier] = {}
        self._journey_rows = journey_rows(engine)  # decodes the lookup row's last column
        # A unit's history is read in a worker thread; on PostgreSQL on connections that hold no transaction.
        self._reads = make_read_engine(engine) if engine.dialect.name == "postgresql" else engine
        # At most a few of those threads per event loop: more only contend for the GIL.
        self._readers = PerLoop(lambda: anyio.CapacityLimiter(READER_THREADS))

    def close(self) -> None:
        self._lookups.close()
        for verifier in self._on_replica.values():
            verifier.close()
        if self._reads is not self._engine:
            self._reads.dispose()

    async def verify(self, scan: UnitCode) -> Verification:
        replica = self._replicas.pick() if self._replicas is not None else None
        if replica is not None:
            on_replica = self._on_replica.get(replica)
            if on_replica is None:
                on_replica = self._on_replica.setdefault(replica, Verifier(replica.engine, self._keyring))
            try:
                answer = await on_replica.verify_here(scan)
            except (LookupFailed, DBAPIError):  # the standby failed: the primary answers
                pass
            else:
                if answer.unit_id is not None:  # a code the standby does not know may be a moment old
                    return answer
        return await self.verify_here(scan)

    async def verify_here(self, scan: UnitCode) -> Verification:
        """The verification on this verifier's own database."""
        found = await self._lookups.fetch(scan.gtin, scan.serial)  # the one query that answers most scans
        row = unit_row(found[:-1]) if found is not None else None  # the journey last
        if row is None or (row.untouched and not row.product_has_recalls):
            return self._decide(scan, row, None)
        if not row.product_has_recalls:  # a history and a container state: the lookup's last column
            known = trail(self._journey_rows(found[-1]), row)
            if known is not None:
                return self._decide(scan, row, None, known)
        # Recalls to read (or a nesting too deep for that statement): several queries, off the event loop.
        return await anyio.to_thread.run_sync(self._decide_reading, scan, row, limiter=self._readers.get())

    def _decide_reading(self, scan: UnitCode, row: UnitRow) -> Verification:
        """The slow, complete way: the unit's history, containers and recalls read through ``app.services``."""
        for attempt in (1, 2):
            try:
                with self._reads.connect() as conn:
                    return self._decide(scan, row, conn)
            except DBAPIError as error:  # a connection the server dropped (not pinged first): once more
                if attempt == 2 or not error.connection_invalidated:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide(
        self,
        scan: UnitCode,
        row: UnitRow | None,
        conn: Connection | None,
        known: tuple[str, list[dict[str, Any]]] | None = None,
    ) -> Verification:
        """``conn``: read what the row does not say; ``known``: it was read already (the status and the journey
        after issuance); neither: the row says everything (an untouched unit of a product without recalls)."""
        facts = state = recall = None
        if row is not None:
            if known is not None:
                status = known[0]
            else:
                status = effective_custody(conn, row)[0] if conn is not None else row.state
            state = PUBLIC_STATE[Status(status)]
            flags = suspect_flags(
                status,
                repeat_sale=row.repeat_sale_alert,
                clone=row.clone_alert,
                investigated=row.under_investigation,
            )
            if conn is not None and row.product_has_recalls:
                recall = most_severe(covering(conn, scan.gtin, row.lot, scan.serial))
            facts = UnitFacts(
                row.lot, row.expires_on, state, recalled=recall is not None, signed=row.signed, flags=flags
            )
        key_tag = None
        if scan.signature is not None:
            try:
                key_tag = decode_signature(scan.signature)[0]
            except InvalidCode:
                key_tag = None
        verdict = judge(scan, facts, self._keyring.public_keys(missing=key_tag), today())
        if row is None or verdict.kind in NOT_OURS:
            return Verification(scan, verdict, None, unit_id=row.id if row is not None else None)
        issued = (row.issued_at, row.manufacturer_region)
        if known is not None:
            steps = issued_step(issued) + known[1]
        else:
            steps = journey(conn, row.id, issued) if conn is not None and not row.untouched else issued_step(issued)
        return Verification(scan, verdict, row, state, tuple(steps), recall, row.id)


def _iso(value: Any) -> str:
    """An event's time as ``datetime.isoformat`` writes the aware UTC datetime the ORM would read."""
    if isinstance(value, str):  # SQLite: naive UTC text, as SQLAlchemy writes it: "YYYY-MM-DD HH:MM:SS.ffffff"
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return value[:10] + "T" + (value[11:19] if value.endswith(".000000") else value[11:]) + "+00:00"
        value = datetime.fromisoformat(value)
    at = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return at.isoformat()


def trail(rows: list[tuple[Any, ...]], row: UnitRow) -> tuple[str, list[dict[str, Any]]] | None:
    """(internal status, the consumer's steps after issuance) from the rows of ``app.db.journeys`` for the unit
    of ``row``; None if they cannot say (its container nesting is too deep: the slow way reports that)."""
    status = row.state
    if rows and rows[0][0] == 0:
        status = rows[0][1]
        rows = rows[1:]
    elif row.container_sscc is not None:
        return None
    steps = []
    for row_ in rows:
        action = row_[1]
        step = CONSUMER_STEP.get(action) if action != "sell" else consumer_step(action, row_[2])
        if step is None:
            continue
        steps.append({"step": step, "at": _iso(row_[3]), "region": row_[4]})
    return status, steps
