"""Public verification: the hottest path of the service, one indexed lookup and one signature check per scan.

It goes below the ORM on purpose (one driver-level query on a connection of its own, no session): a consumer scan
must stay far under the EU's 300 ms even when thousands arrive each second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from app.db.units import UnitRow, lookup_sql, unit_row
from app.domain.custody import PUBLIC_STATE, Status
from app.domain.errors import InvalidCode
from app.domain.identifiers import UnitCode
from app.domain.recall import RecallScope, most_severe
from app.domain.signing import decode_signature
from app.domain.verdict import UnitFacts, Verdict, judge
from app.services.clock import today
from app.services.keys import KeyRing
from app.services.recalls import covering
from app.services.units import effective_custody, issued_step, journey, suspect_flags


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
            "verdict": self.verdict.verdict,
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


class LookupConnections:
    """Driver connections that only run the lookup, in autocommit, kept outside SQLAlchemy's pool.

    A checkout from the pool costs a ping round trip on PostgreSQL (``pool_pre_ping``) and a rollback on its
    return, two thirds of a scan's time there and a tenth of it on SQLite. These connections never hold a
    transaction, so they need neither; one that fails is dropped and the query runs once more on a new one.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._idle: list[Any] = []  # list.append and list.pop are atomic: no lock needed
        dbapi = engine.dialect.loaded_dbapi
        self._lost = (dbapi.OperationalError, dbapi.InterfaceError)

    def _connect(self) -> Any:
        pooled = self._engine.raw_connection()  # the engine's connect hooks (SQLite pragmas, PostgreSQL options)
        driver = pooled.driver_connection
        pooled.detach()  # ours from now on: closed by close(), never returned to the pool
        if self._engine.dialect.name == "postgresql":
            driver.rollback()
            driver.autocommit = True
        return driver  # SQLite: autocommit already (isolation_level=None, see app.db.engine)

    def fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        for attempt in (1, 2):
            try:
                conn = self._idle.pop()
            except IndexError:
                conn = self._connect()
            try:
                rows = conn.execute(sql, params).fetchall()  # fetchall ends the statement and its read
            except self._lost:
                conn.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                conn.close()
                raise
            self._idle.append(conn)
            return list(rows)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class Verifier:
    def __init__(self, engine: Engine, keyring: KeyRing) -> None:
        self._engine = engine
        self._keyring = keyring
        self._sql = lookup_sql(engine.dialect.name)
        self._connections = LookupConnections(engine)

    def _lookup(self, gtin: str, serial: str) -> UnitRow | None:
        """The one query that answers most scans."""
        rows = self._connections.fetch(self._sql, (gtin, serial))
        return unit_row(rows[0]) if rows else None

    def close(self) -> None:
        self._connections.close()

    def verify(self, scan: UnitCode) -> Verification:
        row = self._lookup(scan.gtin, scan.serial)
        if row is None or (row.untouched and not row.product_has_recalls):
            return self._decide(scan, row, None)
        with self._engine.connect() as conn:  # the unit has a history, a container or recalls to read
            return self._decide(scan, row, conn)

    def _decide(self, scan: UnitCode, row: UnitRow | None, conn: Connection | None) -> Verification:
        facts = state = recall = None
        if row is not None:
            status = effective_custody(conn, row)[0] if conn is not None else row.state
            state = PUBLIC_STATE[Status(status)]
            flags = suspect_flags(status, repeat_sale=row.repeat_sale_alert, clone=row.clone_alert)
            if conn is not None and row.product_has_recalls:
                recall = most_severe(covering(conn, scan.gtin, row.lot, scan.serial))
            facts = UnitFacts(row.lot, row.expires_on, state, recalled=recall is not None, flags=flags)
        key_tag = None
        if scan.signature is not None:
            try:
                key_tag = decode_signature(scan.signature)[0]
            except InvalidCode:
                key_tag = None
        verdict = judge(scan, facts, self._keyring.public_keys(missing=key_tag), today())
        if row is None or verdict.verdict in ("invalid_signature", "unknown"):
            return Verification(scan, verdict, None, unit_id=row.id if row is not None else None)
        issued = (row.issued_at, row.manufacturer_region)
        steps = journey(conn, row.id, issued) if conn is not None and not row.untouched else issued_step(issued)
        return Verification(scan, verdict, row, state, tuple(steps), recall, row.id)
