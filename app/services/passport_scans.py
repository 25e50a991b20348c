"""Scans of a product (``/01/{gtin}``) or a lot (``/01/{gtin}/10/{lot}``), and the passport a unit scan shows.

An anonymous scan (the consumer's) goes below the ORM, as the unit scan does: ``PassportScans`` answers a product
or lot scan from one statement (the product, its maker, the lot's expiry, whether the product has recalls, whether
an active suspect-product case names the lot, and the newest passport versions' ids) and a unit scan's passport
from one more (the versions' ids), on the event loop, the merged, tier-filtered passport coming from a cache keyed
by those ids (``app.services.passports``). A scan with a key (its tier needs the reader), or of a product with
recalls (their scopes), reads in a session: ``scan_product`` and ``unit_passport``, run in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db.cases import lot_under_investigation
from app.db.lookups import LookupFailed
from app.db.models import Batch, Organisation, Product
from app.db.passport_lookups import VersionIds, leaves, passport_lookups, product_lookups, product_row
from app.db.replicas import ReadReplicas, Replica
from app.domain.identifiers import ProductCode
from app.domain.passport import Tier
from app.domain.recall import RecallScope, most_severe
from app.domain.resolver import ProductVerdict, covers_lot, product_reasons, product_verdict
from app.services.orgs import Principal, authenticate
from app.services.passports import Shown, as_shown, cached_view, view_of, visible_passport
from app.services.recalls import scopes_for


@dataclass(frozen=True, slots=True)
class ProductScan:
    scan: ProductCode
    verdict: ProductVerdict
    product: dict[str, Any] | None
    lot_expires_on: date | None
    recall: RecallScope | None
    recalled_lots: tuple[str, ...]
    passport: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        known = self.product is not None
        return {
            "verdict": self.verdict.value,
            "reasons": product_reasons(self.verdict),
            "level": "lot" if self.scan.lot is not None else "product",
            "product": self.product,
            "lot": self.scan.lot if known else None,
            "expires_on": self.lot_expires_on.isoformat() if self.lot_expires_on else None,
            "recall": recall_json(self.recall),
            "recalled_lots": list(self.recalled_lots),
            "passport": self.passport,
            "scanned": {"gtin": self.scan.gtin, "lot": self.scan.lot},
        }


def recall_json(recall: RecallScope | None) -> dict[str, Any] | None:
    if recall is None:
        return None
    return {"id": recall.id, "class": recall.recall_class, "reason": recall.reason, "instructions": recall.instructions}


def reader_of(session: Session, token: str | None) -> Principal | None:
    """The organisation of a Bearer key (a wrong key is refused), or None for an anonymous scan."""
    return authenticate(session, token) if token else None


def scan_product(session: Session, scan: ProductCode, reader: Principal | None, today: date) -> ProductScan:
    found = session.execute(
        select(Product.name, Product.category, Organisation.name)
        .join(Organisation, Organisation.id == Product.manufacturer_id)
        .where(Product.gtin == scan.gtin)
    ).first()
    if found is None:
        verdict = product_verdict(product_known=False, lot=None, lot_expires_on=None, recalled=False, today=today)
        return ProductScan(scan, verdict, None, None, None, (), None)
    product = {"gtin": scan.gtin, "name": found[0], "category": found[1], "manufacturer": found[2]}
    expires_on, investigated = None, False
    if scan.lot is not None:
        found_lot = select(Batch.id, Batch.expires_on).where(Batch.gtin == scan.gtin, Batch.lot == scan.lot)
        batch = session.execute(found_lot).first()
        if batch is not None:
            expires_on = batch.expires_on
            investigated = lot_under_investigation(session.connection(), batch.id)
    scopes = scopes_for(session.connection(), scan.gtin)
    recall = most_severe([scope for scope in scopes if covers_lot(scope, scan.lot)])
    recalled_lots = tuple(sorted({lot for scope in scopes for lot in scope.lots})) if scan.lot is None else ()
    verdict = product_verdict(
        product_known=True,
        lot=scan.lot,
        lot_expires_on=expires_on,
        recalled=recall is not None,
        today=today,
        investigated=investigated,
    )
    lot_for_passport = scan.lot if expires_on is not None else None  # an unknown lot has no passport of its own
    passport = visible_passport(session, scan.gtin, lot_for_passport, None, reader, today=today)
    return ProductScan(scan, verdict, product, expires_on, recall, recalled_lots, passport)


def unit_passport(
    session: Session, gtin: str, lot: str | None, serial: str, reader: Principal | None, today: date
) -> dict[str, Any] | None:
    """The passport a unit scan shows: the product's, the lot's and the unit's, merged, for the reader's tier."""
    return visible_passport(session, gtin, lot, serial, reader, today=today)


class PassportScans:
    """Anonymous product, lot and unit-passport scans, answered on the event loop (see the module's docstring)."""

    def __init__(self, engine: Engine, replicas: ReadReplicas | None = None) -> None:
        self._engine = engine
        self._products = product_lookups(engine)
        self._passports = passport_lookups(engine)
        # Standbys within the lag limit answer first, each through a PassportScans of its own; a product, lot or
        # passport one does not know (made a moment ago), or a failure, is asked of the primary.
        self._replicas = replicas
        self._on_replica: dict[Replica, PassportScans] = {}

    def close(self) -> None:
        self._products.close()
        self._passports.close()
        for scans in self._on_replica.values():
            scans.close()

    def _standby(self) -> PassportScans | None:
        replica = self._replicas.pick() if self._replicas is not None else None
        if replica is None:
            return None
        mine = self._on_replica.get(replica)
        if mine is None:
            mine = self._on_replica.setdefault(replica, PassportScans(replica.engine))
        return mine

    async def scan_product(self, scan: ProductCode, today: date) -> ProductScan | None:
        """An anonymous product or lot scan, or None when the product has recalls (``scan_product`` reads them)."""
        standby = self._standby()
        if standby is not None:
            try:
                answer = await standby.scan_product_here(scan, today)
            except (LookupFailed, DBAPIError):  # the standby failed: the primary answers
                pass
            else:
                if answer is None or (answer.product is not None and (scan.lot is None or answer.lot_expires_on)):
                    return answer  # None: recalls to read, in a session on the primary
        return await self.scan_product_here(scan, today)

    async def scan_product_here(self, scan: ProductCode, today: date) -> ProductScan | None:
        """``scan_product`` on this instance's own database."""
        found = await self._products.fetch(scan.gtin, scan.lot or "")
        if found is None:
            verdict = product_verdict(product_known=False, lot=None, lot_expires_on=None, recalled=False, today=today)
            return ProductScan(scan, verdict, None, None, None, (), None)
        facts, expires_on, has_recalls, investigated, ids = product_row(found)
        if has_recalls:
            return None
        if expires_on is None:  # an unknown lot (or none scanned) has no passport of its own
            ids = (ids[0], None, None)
        verdict = product_verdict(
            product_known=True,
            lot=scan.lot,
            lot_expires_on=expires_on,
            recalled=False,
            today=today,
            investigated=investigated,
        )
        product = {"gtin": scan.gtin, **facts}
        return ProductScan(scan, verdict, product, expires_on, None, (), await self._passport(ids, today))

    async def unit_passport(self, gtin: str, serial: str, today: date) -> dict[str, Any] | None:
        """The public passport of a unit (the product's, its lot's and its own, merged), None without one."""
        standby = self._standby()
        if standby is not None:
            try:
                answer = await standby.unit_passport_here(gtin, serial, today)
            except (LookupFailed, DBAPIError):
                answer = None
            if answer is not None:
                return answer
        return await self.unit_passport_here(gtin, serial, today)

    async def unit_passport_here(self, gtin: str, serial: str, today: date) -> dict[str, Any] | None:
        """``unit_passport`` on this instance's own database."""
        found = await self._passports.fetch(gtin, serial)
        if found is None:
            return None
        product, lot, unit = found
        return await self._passport((product, lot, unit), today)

    async def _passport(self, ids: VersionIds, today: date) -> dict[str, Any] | None:
        if ids == (None, None, None):
            return None
        view = cached_view(self._engine, ids, Tier.PUBLIC, today)
        if view is None:  # versions not seen yet: their leaves are read (and the view made) off the event loop
            view = await anyio.to_thread.run_sync(self._view, ids, today)
        return as_shown(view, Tier.PUBLIC)

    def _view(self, ids: VersionIds, today: date) -> Shown:
        with self._engine.connect() as conn:
            return view_of(self._engine, ids, Tier.PUBLIC, today, lambda wanted: leaves(conn, wanted))
