"""Scans of a package code an import registered (a box or case code, 20-digit or GTIN + serial).

``POST /v1/batches/{id}/codes/import`` turns every package code into a container keyed from the code alone
(``app/domain/code_import.container_key``), so a scan finds it by one primary-key read. The answer says what a
unit scan says, for the package: its custody state (public), product, lot, expiry and recall, plus its level and
how many units are inside; never who holds it. The verdict is ``app/domain/package_verdict.judge_package``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Batch, Container, ContainerLot, Organisation, Product, Unit
from app.domain.code_import import CodeKind, parse_import_code
from app.domain.custody import PUBLIC_STATE, Status
from app.domain.errors import DomainError
from app.domain.package_verdict import judge_package
from app.domain.recall import RecallScope, most_severe
from app.domain.verdict import SUSPECT_STATES, Verdict
from app.services.passport_scans import recall_json
from app.services.recalls import scopes_for


@dataclass(frozen=True, slots=True)
class PackageScan:
    code: str  # the package code as registered (20 digits, or GTIN + serial)
    verdict: Verdict
    state: str  # public state
    level: int  # 1: holds units only (a box); 2: holds level-1 packages (a case); ...
    units: int  # units anywhere inside
    product: dict[str, Any] | None
    lot: str | None
    expires_on: date | None
    recall: RecallScope | None

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.kind.value,
            "signature": self.verdict.signature.value,
            "state": self.state,
            "package": {"code": self.code, "level": self.level, "units": self.units},
            "product": self.product,
            "lot": self.lot,
            "expires_on": self.expires_on.isoformat() if self.expires_on else None,
            "recall": recall_json(self.recall),
            "reasons": list(self.verdict.reasons),
            "journey": [],
        }


def package_scan(session: Session, text: str, today: date) -> PackageScan | None:
    """The package an import registered under the scanned code, or None when the text names no such package
    (then it is read as a unit, with that path's refusals)."""
    try:
        code = parse_import_code(text.strip())
    except DomainError:
        return None
    if code.kind is CodeKind.SSCC:  # a logistic unit is not scanned by consumers (docs/cn-drug-codes.md)
        return None
    container = session.get(Container, code.container_key)
    if container is None:
        return None
    subtree, level = _subtree(session, container.sscc)
    lots = session.execute(
        select(Batch.gtin, Batch.lot, Batch.expires_on, ContainerLot.units)
        .join(Batch, Batch.id == ContainerLot.batch_id)
        .where(ContainerLot.sscc == container.sscc)
        .order_by(Batch.expires_on, Batch.id)
    ).all()
    units = sum(row.units for row in lots)
    state = PUBLIC_STATE[Status(_outermost(session, container).state)]
    inside = set(
        session.scalars(
            select(Unit.state).where(Unit.container_sscc.in_(subtree), Unit.state.in_(sorted(SUSPECT_STATES)))
            .distinct()
        )
    )  # fmt: skip
    if not lots:  # emptied by unpacking: a package, but nothing inside to answer for
        verdict = judge_package(state, False, inside, None, today)
        return PackageScan(code.key, verdict, state, level, 0, None, None, None, None)
    gtin = lots[0].gtin
    found = session.execute(
        select(Product.name, Product.category, Organisation.name)
        .join(Organisation, Organisation.id == Product.manufacturer_id)
        .where(Product.gtin == gtin)
    ).one()
    product = {"gtin": gtin, "name": found[0], "category": found[1], "manufacturer": found[2]}
    lot_names = {row.lot for row in lots}
    recall = most_severe(
        scope
        for scope in scopes_for(session.connection(), gtin)
        if (not scope.lots and not scope.serials) or scope.lots & lot_names or _serials_inside(session, subtree, scope)
    )
    expires_on = lots[0].expires_on  # the earliest
    verdict = judge_package(state, recall is not None, inside, expires_on, today)
    lot = lots[0].lot if len(lot_names) == 1 else None
    return PackageScan(code.key, verdict, state, level, units, product, lot, expires_on, recall)


def _outermost(session: Session, container: Container) -> Container:
    """A package inside another moves with it and keeps its own row as it was: the outermost one says the state."""
    seen = {container.sscc}
    while container.parent_sscc is not None and container.parent_sscc not in seen:
        parent = session.get(Container, container.parent_sscc)
        if parent is None:
            break
        seen.add(parent.sscc)
        container = parent
    return container


def _subtree(session: Session, key: str) -> tuple[list[str], int]:
    """The package and every package inside it, and its level (layers of packages down to the units)."""
    keys, frontier, level = [key], [key], 1
    while True:
        children = list(session.scalars(select(Container.sscc).where(Container.parent_sscc.in_(frontier))))
        if not children:
            return keys, level
        keys.extend(children)
        frontier = children
        level += 1


def _serials_inside(session: Session, subtree: list[str], scope: RecallScope) -> bool:
    if not scope.serials:
        return False
    hit = session.scalar(
        select(func.count())
        .select_from(Unit)
        .where(Unit.container_sscc.in_(subtree), Unit.serial.in_(sorted(scope.serials)))
    )
    return bool(hit)
