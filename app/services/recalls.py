"""Recalls: created by the product's manufacturer or a regulator, never undone (extended or completed), and
their trace: where every unit in scope is now, what was sold where, and how the lot travelled."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app.db import lot_counters
from app.db.models import Organisation, Product, Recall, Unit
from app.db.trace import batch_ids, custody_counts, hops, recovery, sales, scope_of
from app.domain.custody import PUBLIC_STATE, Status
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.identifiers import validate_gtin
from app.domain.orgs import Role
from app.domain.recall import HOLDING, RECALLERS, RecallScope, check_scope
from app.services import recall_relay, webhooks
from app.services.clock import utcnow
from app.services.orgs import Principal


def _product(session: Session, principal: Principal, gtin: str) -> Product:
    validate_gtin(gtin)
    product = session.get(Product, gtin)
    if product is None:
        raise NotFound(f"no product with GTIN {gtin}", code="product_not_found")
    if principal.role is not Role.REGULATOR and not (
        principal.role is Role.MANUFACTURER and product.manufacturer_id == principal.org_id
    ):
        if principal.role is Role.MANUFACTURER:
            raise Forbidden(f"product {gtin} belongs to another manufacturer", code="foreign_product")
        raise Forbidden("only the product's manufacturer or a regulator may recall it", code="wrong_role")
    return product


def _check_members(session: Session, gtin: str, lots: list[str], serials: list[str]) -> None:
    known = batch_ids(session.connection(), gtin, lots)
    missing = [lot for lot in lots if lot not in known]
    if missing:
        raise InvalidInput(f"GTIN {gtin} has no lot {missing[0]}", code="unknown_lot")
    if serials:
        found = set(session.scalars(select(Unit.serial).where(Unit.gtin == gtin, Unit.serial.in_(serials))))
        absent = [s for s in serials if s not in found]
        if absent:
            raise InvalidInput(f"GTIN {gtin} has no serial {absent[0]}", code="unknown_serial")


def create_recall(
    session: Session,
    principal: Principal,
    *,
    gtin: str,
    lots: list[str],
    serials: list[str],
    reason: str,
    recall_class: str,
    instructions: str | None,
) -> Recall:
    _product(session, principal, gtin)
    check_scope(lots, serials, recall_class, reason)
    _check_members(session, gtin, lots, serials)
    recall = Recall(
        gtin=gtin,
        lots=sorted(set(lots)),
        serials=sorted(set(serials)),
        reason=reason.strip(),
        recall_class=recall_class,
        instructions=instructions,
        created_by=principal.org_id,
        created_at=utcnow(),
        status="open",
    )
    _note_baseline(session, recall)
    session.add(recall)
    session.flush()
    webhooks.notify_recall(session, recall.id)
    recall_relay.relay_orders(session, recall)
    return recall


def _note_baseline(session: Session, recall: Recall) -> None:
    """Remember each newly covered lot's recovery counters, so the trace counts recovery from then on."""
    scope = scope_of(session.connection(), recall.gtin, recall.lots, recall.serials)
    baseline = dict(recall.recovery_baseline or {})
    new = [b for b in scope.batch_ids if str(b) not in baseline]
    if new or recall.recovery_baseline is None:
        found = lot_counters.recovery(session.connection(), new) if new else {}
        baseline.update({str(b): found.get(b, {}) for b in new})
        recall.recovery_baseline = baseline


def get_recall(session: Session, principal: Principal, recall_id: int) -> Recall:
    recall = session.get(Recall, recall_id)
    if recall is None:
        raise NotFound(f"no recall {recall_id}", code="recall_not_found")
    _product(session, principal, recall.gtin)
    return recall


def extend_recall(
    session: Session, principal: Principal, recall_id: int, *, lots: list[str], serials: list[str]
) -> Recall:
    recall = get_recall(session, principal, recall_id)
    if recall.status == "completed":
        raise Conflict(f"recall {recall_id} is completed; open a new one", code="recall_completed")
    if recall.lots == [] and recall.serials == []:
        raise Conflict("this recall already covers every unit of the product", code="recall_covers_all")
    check_scope(lots, serials, recall.recall_class, recall.reason)
    _check_members(session, recall.gtin, lots, serials)
    recall.lots = sorted(set(recall.lots) | set(lots))
    recall.serials = sorted(set(recall.serials) | set(serials))
    _note_baseline(session, recall)
    webhooks.notify_recall(session, recall.id, event_type="recall.extended")  # only holders not told before
    recall_relay.relay_orders(session, recall)  # only units not relayed before
    return recall


def notices_of_recall(session: Session, principal: Principal, recall_id: int) -> dict[str, Any]:
    """Who was notified of a recall and who acknowledged (the product's manufacturer or a regulator)."""
    return webhooks.notices_of_recall(session, get_recall(session, principal, recall_id))


def complete_recall(session: Session, principal: Principal, recall_id: int) -> Recall:
    recall = get_recall(session, principal, recall_id)
    if recall.status == "completed":
        raise Conflict(f"recall {recall_id} is already completed", code="recall_completed")
    recall.status = "completed"
    recall.completed_at = utcnow()
    return recall


def list_recalls(session: Session, principal: Principal) -> list[Recall]:
    query = select(Recall).order_by(Recall.id.desc())
    if principal.role is not Role.REGULATOR:
        principal.require_role(*RECALLERS)
        query = query.join(Product, Product.gtin == Recall.gtin).where(Product.manufacturer_id == principal.org_id)
    return list(session.scalars(query))


def recall_view(recall: Recall) -> dict[str, Any]:
    return {
        "id": recall.id,
        "gtin": recall.gtin,
        "lots": recall.lots,
        "serials": recall.serials,
        "reason": recall.reason,
        "class": recall.recall_class,
        "instructions": recall.instructions,
        "status": recall.status,
        "created_by": recall.created_by,
        "created_at": recall.created_at.isoformat(),
        "completed_at": recall.completed_at.isoformat() if recall.completed_at else None,
    }


def scopes_for(conn: Connection, gtin: str) -> list[RecallScope]:
    rows = conn.execute(
        select(Recall.id, Recall.recall_class, Recall.reason, Recall.lots, Recall.serials, Recall.instructions).where(
            Recall.gtin == gtin
        )
    ).all()
    return [
        RecallScope(r.id, r.recall_class, r.reason, frozenset(r.lots or ()), frozenset(r.serials or ()), r.instructions)
        for r in rows
    ]


def covering(conn: Connection, gtin: str, lot: str, serial: str) -> list[RecallScope]:
    return [scope for scope in scopes_for(conn, gtin) if scope.covers(lot, serial)]


def holders_csv(session: Session, principal: Principal, recall_id: int) -> str:
    """The trace's holders and units in transit, one organisation a row, for a spreadsheet."""
    found = trace(session, principal, recall_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["org_id", "org_name", "units", "kind"])
    for row in found["holders"]:
        writer.writerow([row["org"]["id"], row["org"]["name"], row["units"], "holding"])
    for row in found["in_transit"]:
        writer.writerow([row["to"]["id"], row["to"]["name"], row["units"], f"in transit from {row['from']['id']}"])
    return out.getvalue()


def trace(session: Session, principal: Principal, recall_id: int) -> dict[str, Any]:
    recall = get_recall(session, principal, recall_id)
    conn = session.connection()
    product = session.get(Product, recall.gtin)
    assert product is not None
    scope = scope_of(conn, recall.gtin, recall.lots, recall.serials)
    by_state: dict[str, int] = defaultdict(int)
    holders: dict[str, int] = defaultdict(int)
    transit: dict[tuple[str, str], int] = defaultdict(int)
    total = 0
    for (status, holder, to), n in custody_counts(conn, scope).items():
        holder = holder or product.manufacturer_id
        total += n
        by_state[PUBLIC_STATE[Status(status)]] += n
        if Status(status) in HOLDING:
            holders[holder] += n
        if Status(status) is Status.IN_TRANSIT and to is not None:
            transit[(holder, to)] += n
    sold = {"offline": 0, "online": 0, "dispensed": 0, "online_by_platform": []}  # type: dict[str, Any]
    platforms: dict[str | None, int] = defaultdict(int)
    for action, channel, platform, n in sales(conn, scope):
        if action == "dispense":
            sold["dispensed"] += n
        elif channel == "online":
            sold["online"] += n
            platforms[platform] += n
        else:
            sold["offline"] += n
    edges = hops(conn, scope)
    ids = {
        *holders,
        *(a for a, _ in transit),
        *(b for _, b in transit),
        *platforms,
        *(a for a, _, _ in edges),
        *(b for _, b, _ in edges),
    } - {None}
    names = dict(session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())

    def org(org_id: str | None) -> dict[str, Any] | None:
        return {"id": org_id, "name": names.get(org_id)} if org_id else None

    sold["online_by_platform"] = [
        {"platform": org(p), "units": n} for p, n in sorted(platforms.items(), key=lambda kv: -kv[1])
    ]
    return {
        "recall": recall_view(recall),
        "units_total": total,
        "by_state": dict(by_state),
        "holders": [{"org": org(o), "units": n} for o, n in sorted(holders.items(), key=lambda kv: -kv[1])],
        "sold": sold,
        "in_transit": [
            {"from": org(a), "to": org(b), "units": n} for (a, b), n in sorted(transit.items(), key=lambda kv: -kv[1])
        ],
        "recovered_since_recall": recovery(conn, scope, recall.created_at, recall.recovery_baseline),
        "hops": [{"from": org(a), "to": org(b), "units": n} for a, b, n in sorted(edges, key=lambda e: -e[2])],
        "online_orders": recall_relay.counts(session, recall.id),
        "online_orders_by_platform": recall_relay.counts_by_platform(session, recall.id),
    }
