"""Public verification: the hottest path of the service, one indexed lookup and one signature check per scan.

It goes below the ORM on purpose (one raw query on a pooled connection): a consumer scan must stay far under
the EU's 300 ms even when thousands arrive each second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from app.db.units import UnitRow, lookup_sql, unit_row
from app.domain.identifiers import UnitCode
from app.domain.signing import decode_signature
from app.domain.errors import InvalidCode
from app.domain.verdict import UnitFacts, Verdict, judge
from app.services.clock import today
from app.services.keys import KeyRing


@dataclass(frozen=True, slots=True)
class Verification:
    scan: UnitCode
    verdict: Verdict
    row: UnitRow | None  # None unless the verdict may show the record (never for a bad signature)

    def as_json(self) -> dict[str, Any]:
        row = self.row
        return {
            "verdict": self.verdict.verdict,
            "signature": self.verdict.signature,
            "state": row.state if row else None,
            "product": (
                {"gtin": self.scan.gtin, "name": row.product_name, "category": row.category,
                 "manufacturer": row.manufacturer}
                if row
                else None
            ),
            "lot": row.lot if row else None,
            "expires_on": row.expires_on.isoformat() if row else None,
            "recall": None,
            "reasons": list(self.verdict.reasons),
            "journey": [],
        }


class Verifier:
    def __init__(self, engine: Engine, keyring: KeyRing) -> None:
        self._engine = engine
        self._keyring = keyring
        self._sql = lookup_sql(engine.dialect.name)

    def lookup(self, gtin: str, serial: str) -> UnitRow | None:
        conn = self._engine.raw_connection()
        try:
            cursor = conn.cursor()
            cursor.execute(self._sql, (gtin, serial))
            raw = cursor.fetchone()
            cursor.close()
        finally:
            conn.close()
        return unit_row(raw) if raw is not None else None

    def verify(self, scan: UnitCode) -> Verification:
        row = self.lookup(scan.gtin, scan.serial)
        facts = UnitFacts(row.lot, row.expires_on, row.state) if row else None
        key_tag = None
        if scan.signature is not None:
            try:
                key_tag = decode_signature(scan.signature)[0]
            except InvalidCode:
                key_tag = None
        verdict = judge(scan, facts, self._keyring.public_keys(missing=key_tag), today())
        shown = row if verdict.verdict not in ("invalid_signature", "unknown") else None
        return Verification(scan, verdict, shown)
