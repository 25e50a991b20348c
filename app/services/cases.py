"""Suspect-product cases: opening, moving, reading, quarantining, and the notices each change sends.

Every change (the opening included) is written with its log leaf and its notices in the request's one
transaction: one row per organisation told (the product's manufacturer, every regulator, every organisation holding
or receiving units of the case's lots and serials), and a signed webhook (``case.opened`` / ``case.updated``) queued
for those with an endpoint, sent afterwards by ``app.services.webhooks.deliver_due``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import ColumnElement, Select, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.db.models import (
    Batch,
    CaseChange,
    CaseNotice,
    CaseSubject,
    Event,
    EventItem,
    Issuance,
    LotCustody,
    LotHop,
    Organisation,
    Product,
    SuspectCase,
    Unit,
    WebhookDelivery,
)
from app.domain.cases import (
    ACTIVE,
    DECISIONS,
    CaseLeaf,
    CaseStatus,
    CaseType,
    Change,
    Party,
    case_leaf_bytes,
    decide,
    may_open,
)
from app.domain.custody import ON_HAND, Action, Status
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.identifiers import validate_gtin
from app.domain.merkle import leaf_hash
from app.domain.orgs import READS_EVERYTHING, Role
from app.services import log, webhooks
from app.services.custody import EventIn, Policy, record_events
from app.services.orgs import Principal

MAX_PAGE = 100
LOCK_CHUNK = 1_000  # codes per lock event of a quarantine
_LOCKABLE = tuple(s.value for s in (*ON_HAND, Status.OPEN))


def _product(session: Session, gtin: str) -> Product:
    validate_gtin(gtin)
    product = session.get(Product, gtin)
    if product is None:
        raise NotFound(f"no product with GTIN {gtin}", code="product_not_found")
    return product


def _batches(session: Session, gtin: str, lots: list[str]) -> dict[str, int]:
    found = dict(session.execute(select(Batch.lot, Batch.id).where(Batch.gtin == gtin, Batch.lot.in_(lots))).all())
    missing = sorted(set(lots) - found.keys())
    if missing:
        raise InvalidInput(f"GTIN {gtin} has no lot {missing[0]}", code="unknown_lot")
    return found


def _units(session: Session, gtin: str, serials: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    wanted = sorted(set(serials))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = session.execute(select(Unit.serial, Unit.id).where(Unit.gtin == gtin, Unit.serial.in_(chunk)))
        found.update({s: i for s, i in rows})
    missing = [s for s in wanted if s not in found]
    if missing:
        raise InvalidInput(f"GTIN {gtin} has no unit with serial {missing[0]}", code="unknown_serial")
    return found


def _handled_lot(session: Session, org: str, batch_id: int) -> bool:
    """The organisation holds units of the lot, has them coming, or shipped or received some."""
    held = select(LotCustody.batch_id).where(
        LotCustody.batch_id == batch_id, LotCustody.units > 0, or_(LotCustody.holder_id == org, LotCustody.to_id == org)
    )
    hopped = select(LotHop.batch_id).where(
        LotHop.batch_id == batch_id, LotHop.units > 0, or_(LotHop.from_id == org, LotHop.to_id == org)
    )
    return bool(session.scalar(select(exists(held) | exists(hopped))))


def _unhandled_units(session: Session, org: str, unit_ids: list[int]) -> list[int]:
    """The units the organisation never held, received, nor named in an event of its own."""
    seen: set[int] = set()
    for start in range(0, len(unit_ids), 500):
        chunk = unit_ids[start : start + 500]
        seen.update(
            session.scalars(select(Unit.id).where(Unit.id.in_(chunk), or_(Unit.holder_id == org, Unit.to_id == org)))
        )
        seen.update(
            session.scalars(
                select(EventItem.unit_id)
                .join(Event, Event.id == EventItem.event_id)
                .where(EventItem.unit_id.in_(chunk), or_(Event.org_id == org, Event.to_id == org))
            )
        )
    return [u for u in unit_ids if u not in seen]


def open_case(
    session: Session,
    principal: Principal,
    *,
    case_type: CaseType,
    gtin: str,
    lots: list[str],
    serials: list[str],
    description: str | None,
    now: datetime,
) -> SuspectCase:
    product = _product(session, gtin)
    if not lots and not serials:
        raise InvalidInput("a case names the lots or serials it is about", code="empty_case")
    batches = _batches(session, gtin, lots)
    units = _units(session, gtin, serials)
    manufacturer = product.manufacturer_id == principal.org_id
    regulator = principal.role is Role.REGULATOR
    handled = (
        not manufacturer
        and not regulator
        and (
            all(_handled_lot(session, principal.org_id, b) for b in batches.values())
            and not _unhandled_units(session, principal.org_id, sorted(units.values()))
        )
    )
    if not may_open(handled=handled, manufacturer=manufacturer, regulator=regulator):
        raise Forbidden(
            "a case is opened by an organisation that handled those units, their manufacturer or a regulator",
            code="not_a_handler",
        )
    case = SuspectCase(
        type=case_type.value,
        status=CaseStatus.OPEN.value,
        gtin=gtin,
        lots=sorted(set(lots)),
        serials=sorted(set(serials)),
        description=description,
        opened_by=principal.org_id,
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    rows = [{"case_id": case.id, "batch_id": b, "unit_id": None, "active": True} for b in sorted(batches.values())]
    rows += [{"case_id": case.id, "batch_id": None, "unit_id": u, "active": True} for u in sorted(units.values())]
    session.execute(insert(CaseSubject), rows)
    _record_change(session, case, product, principal.org_id, None, note=None, now=now)
    return case


def _parties(principal: Principal, case: SuspectCase, product: Product) -> frozenset[Party]:
    found = set()
    if case.opened_by == principal.org_id:
        found.add(Party.OPENER)
    if product.manufacturer_id == principal.org_id:
        found.add(Party.MANUFACTURER)
    if principal.role is Role.REGULATOR:
        found.add(Party.REGULATOR)
    return frozenset(found or {Party.OTHER})


def _may_see(session: Session, principal: Principal, case: SuspectCase, product: Product) -> bool:
    if principal.role in READS_EVERYTHING or principal.org_id in (case.opened_by, product.manufacturer_id):
        return True
    told = select(CaseNotice.id).join(CaseChange, CaseChange.id == CaseNotice.change_id)
    told = told.where(CaseChange.case_id == case.id, CaseNotice.org_id == principal.org_id)
    if session.scalar(select(exists(told))):
        return True
    return principal.org_id in webhooks.holders(session, case.gtin, case.lots, case.serials, product.manufacturer_id)


def get_case(session: Session, principal: Principal, case_id: int, *, for_update: bool = False) -> SuspectCase:
    case = session.get(SuspectCase, case_id, with_for_update=for_update)
    if case is None or not _may_see(session, principal, case, _product(session, case.gtin)):
        raise NotFound(f"no case {case_id} you may read", code="case_not_found")
    return case


def update_case(
    session: Session,
    principal: Principal,
    case_id: int,
    *,
    status: CaseStatus | None,
    incident_number: str | None,
    note: str | None,
    now: datetime,
) -> SuspectCase:
    case = get_case(session, principal, case_id, for_update=True)  # changes of one case take turns
    product = _product(session, case.gtin)
    current = CaseStatus(case.status)
    target = decide(
        current, Change(status, incident_number, note), _parties(principal, case, product), case.incident_number
    )
    if incident_number is not None:
        case.incident_number = incident_number
    if target is not current:
        case.status = target.value
        if target in DECISIONS:
            case.decided_at = now
        if target is CaseStatus.CLOSED:
            case.closed_at = now
        if (current in ACTIVE) != (target in ACTIVE):
            session.execute(update(CaseSubject).where(CaseSubject.case_id == case.id).values(active=target in ACTIVE))
    case.updated_at = now
    session.flush()
    _record_change(session, case, product, principal.org_id, current, note=note, now=now)
    return case


def _record_change(
    session: Session,
    case: SuspectCase,
    product: Product,
    org: str,
    previous: CaseStatus | None,
    *,
    note: str | None,
    now: datetime,
) -> CaseChange:
    """The change's leaf, its row and its notices, in the caller's transaction."""
    seq = 1 + len(session.scalars(select(CaseChange.id).where(CaseChange.case_id == case.id)).all())
    opened = previous is None
    leaf = case_leaf_bytes(
        CaseLeaf(
            case=case.id,
            seq=seq,
            change="opened" if opened else "updated",
            type=case.type,
            status=case.status,
            previous=None if previous is None else previous.value,
            gtin=case.gtin,
            lots=list(case.lots),
            serials=list(case.serials),
            org=org,
            recorded_at=now,
            incident_number=case.incident_number,
            description=case.description if opened else None,
            note=note,
        )
    )
    index = log.append_bytes(session, leaf, None)
    change = CaseChange(
        case_id=case.id,
        seq=seq,
        status=case.status,
        org_id=org,
        recorded_at=now,
        log_index=index,
        leaf=leaf,
        readers=sorted({case.opened_by, product.manufacturer_id, org}),
    )
    session.add(change)
    session.flush()
    _notify(session, case, product, change, "case.opened" if opened else "case.updated", now)
    return change


def _recipients(session: Session, case: SuspectCase, product: Product) -> dict[str, int]:
    """Organisation -> units of the case it holds or has coming: the holders, the manufacturer, every regulator."""
    found = webhooks.holders(session, case.gtin, list(case.lots), list(case.serials), product.manufacturer_id)
    found.setdefault(product.manufacturer_id, 0)
    for regulator in session.scalars(select(Organisation.id).where(Organisation.role == Role.REGULATOR.value)):
        found.setdefault(regulator, 0)
    return found


def _notify(
    session: Session, case: SuspectCase, product: Product, change: CaseChange, event_type: str, now: datetime
) -> None:
    recipients = _recipients(session, case, product)
    recipients.pop(change.org_id, None)  # the organisation making the change is not told of it
    summary = case_summary(case, product)
    payloads = {
        org: {
            "event": event_type,
            "type": event_type,
            "case": summary,
            "change": {"seq": change.seq, "status": change.status, "at": now.isoformat(), "by": change.org_id},
            "org": org,
            "units": units,
            "notified_at": now.isoformat(),
            "url": f"/v1/cases/{case.id}",
        }
        for org, units in recipients.items()
    }
    deliveries = webhooks.queue(session, event_type, payloads, now)
    if recipients:
        session.execute(
            insert(CaseNotice),
            [
                {
                    "change_id": change.id,
                    "org_id": org,
                    "units": units,
                    "notified_at": now,
                    "delivery_id": deliveries.get(org),
                }
                for org, units in sorted(recipients.items())
            ],
        )


# --- reading -------------------------------------------------------------------------------------------------


def case_summary(case: SuspectCase, product: Product | None = None) -> dict[str, Any]:
    return {
        "id": case.id,
        "type": case.type,
        "status": case.status,
        "gtin": case.gtin,
        "product": product.name if product is not None else None,
        "lots": list(case.lots),
        "serials": list(case.serials),
        "description": case.description,
        "opened_by": case.opened_by,
        "opened_at": case.opened_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
        "incident_number": case.incident_number,
        "decided_at": _iso(case.decided_at),
        "closed_at": _iso(case.closed_at),
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def list_cases(
    session: Session, principal: Principal, *, status: CaseStatus | None, after: int, limit: int
) -> dict[str, Any]:
    """Newest first; the caller's own cases (opened, its products', those it was told of), or all for auditors."""
    if not 1 <= limit <= MAX_PAGE or after < 0:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE} and after at least 0", code="invalid_page")
    query = select(SuspectCase, Product).join(Product, Product.gtin == SuspectCase.gtin)
    if principal.role not in READS_EVERYTHING:
        told = (
            select(CaseChange.case_id)
            .join(CaseNotice, CaseNotice.change_id == CaseChange.id)
            .where(CaseNotice.org_id == principal.org_id)
        )
        query = query.where(
            or_(
                SuspectCase.opened_by == principal.org_id,
                Product.manufacturer_id == principal.org_id,
                SuspectCase.id.in_(told),
            )
        )
    if status is not None:
        query = query.where(SuspectCase.status == status.value)
    if after:
        query = query.where(SuspectCase.id < after)
    rows = session.execute(query.order_by(SuspectCase.id.desc()).limit(limit)).all()
    cases = [case_summary(case, product) for case, product in rows]
    return {"cases": cases, "next_after": cases[-1]["id"] if len(cases) == limit else None}


def case_view(session: Session, case: SuspectCase) -> dict[str, Any]:
    """The case whole: its changes (each with its leaf and its notices), the holders of its units now, and how
    long the notices of its decision took to be delivered."""
    product = _product(session, case.gtin)
    changes = list(session.scalars(select(CaseChange).where(CaseChange.case_id == case.id).order_by(CaseChange.seq)))
    notices = session.execute(
        select(CaseNotice, Organisation.name, WebhookDelivery)
        .join(Organisation, Organisation.id == CaseNotice.org_id)
        .outerjoin(WebhookDelivery, WebhookDelivery.id == CaseNotice.delivery_id)
        .where(CaseNotice.change_id.in_([c.id for c in changes]))
        .order_by(CaseNotice.org_id)
    ).all()
    by_change: dict[int, list[dict[str, Any]]] = {c.id: [] for c in changes}
    for notice, name, delivery in notices:
        by_change[notice.change_id].append(
            {
                "org": {"id": notice.org_id, "name": name},
                "units": notice.units,
                "notified_at": notice.notified_at.isoformat(),
                "webhook": None
                if delivery is None
                else {
                    "status": delivery.status,
                    "attempts": delivery.attempts,
                    "delivered_at": _iso(delivery.delivered_at),
                },
                "_delivered_at": delivery.delivered_at if delivery is not None else None,
                "_pending": delivery is not None and delivery.status == "pending",
            }
        )
    views = []
    for change in changes:
        told = by_change[change.id]
        views.append(
            {
                "seq": change.seq,
                "status": change.status,
                "by": change.org_id,
                "at": change.recorded_at.isoformat(),
                "log_index": change.log_index,
                "leaf_hash": leaf_hash(bytes(change.leaf)).hex(),
                "note": _note(bytes(change.leaf)),
                "notices": _timing(change, told),
                "notified": [{k: v for k, v in n.items() if not k.startswith("_")} for n in told],
            }
        )
    holders = webhooks.holders(session, case.gtin, list(case.lots), list(case.serials), product.manufacturer_id)
    names = dict(session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(holders))).all())
    decision = next((v for v in reversed(views) if v["status"] in DECISIONS), None)
    return {
        **case_summary(case, product),
        "units": _unit_count(session, case),
        "holders": [{"org": {"id": o, "name": names.get(o)}, "units": n} for o, n in sorted(holders.items())],
        "changes": views,
        "decision_notices": decision["notices"] if decision is not None else None,
    }


def _note(leaf: bytes) -> str | None:
    note = json.loads(leaf).get("note")
    return note if isinstance(note, str) else None


def _timing(change: CaseChange, told: list[dict[str, Any]]) -> dict[str, Any]:
    """How many were told, how many webhooks are out, and the time from the change to the last delivery."""
    states = Counter(n["webhook"]["status"] for n in told if n["webhook"] is not None)
    queued = max((n["notified_at"] for n in told), default=None)
    delivered = [n["_delivered_at"] for n in told if n["_delivered_at"] is not None]
    webhooked = sum(states.values())
    complete = webhooked > 0 and len(delivered) == webhooked
    return {
        "notified": len(told),
        "queued_at": queued,
        "webhooks": {"pending": states["pending"], "delivered": states["delivered"], "failed": states["failed"]},
        "seconds_to_every_webhook": (max(delivered) - change.recorded_at).total_seconds() if complete else None,
    }


def _lots_units(session: Session, batch_ids: Sequence[int] | Select[tuple[int]]) -> ColumnElement[bool]:
    """Units of these lots, found through their issuances (``ix_unit_issuance_id_id``; a unit's issuance is of its
    lot, by the key (issuance_id, batch_id)): PostgreSQL's custody index leaves out untouched units (migration 0025)."""
    issuances = session.scalars(select(Issuance.id).where(Issuance.batch_id.in_(batch_ids))).all()
    return Unit.issuance_id.in_(issuances)


def _unit_count(session: Session, case: SuspectCase) -> dict[str, int]:
    subjects = select(CaseSubject.batch_id).where(CaseSubject.case_id == case.id, CaseSubject.batch_id.is_not(None))
    in_lots = session.scalar(select(func.count()).select_from(Unit).where(_lots_units(session, subjects))) or 0
    return {"lots": len(case.lots), "serials": len(case.serials), "in_lots": int(in_lots)}


# --- quarantine ----------------------------------------------------------------------------------------------


def quarantine(session: Session, principal: Principal, case_id: int, *, policy: Policy) -> dict[str, Any]:
    """Lock (the custody ``lock`` action, logged like any event) every loose unit of the case the caller holds."""
    case = get_case(session, principal, case_id)
    if CaseStatus(case.status) not in ACTIVE:
        raise Conflict(f"case {case.id} is {case.status}: nothing to quarantine", code="case_not_active")
    product = _product(session, case.gtin)
    subjects = select(CaseSubject.batch_id, CaseSubject.unit_id).where(CaseSubject.case_id == case.id)
    rows = session.execute(subjects).all()
    batch_ids = [b for b, _ in rows if b is not None]
    unit_ids = [u for _, u in rows if u is not None]
    mine = Unit.holder_id == principal.org_id
    in_lots = Unit.batch_id.in_(batch_ids)  # held units: the custody index (holder_id = org implies its predicate)
    if product.manufacturer_id == principal.org_id:
        mine = or_(mine, Unit.holder_id.is_(None))
        in_lots = _lots_units(session, batch_ids)  # also untouched units, which only the issuances' index has
    serials = list(
        session.scalars(
            select(Unit.serial)
            .where(
                or_(in_lots, Unit.id.in_(unit_ids)),
                Unit.gtin == case.gtin,
                mine,
                Unit.container_sscc.is_(None),
                Unit.state.in_(_LOCKABLE),
            )
            .order_by(Unit.id)
        )
    )
    if not serials:
        return {"case": case.id, "locked": 0, "event_ids": []}
    codes = [f"https://id.gs1.org/01/{case.gtin}/21/{quote(s, safe='')}" for s in serials]
    events = [
        EventIn(action=Action.LOCK.value, codes=codes[i : i + LOCK_CHUNK]) for i in range(0, len(codes), LOCK_CHUNK)
    ]
    outcome = record_events(session, principal, events, atomic=True, policy=policy)
    if outcome.error is not None:
        raise outcome.error
    return {"case": case.id, "locked": len(serials), "event_ids": [r.event_id for r in outcome.results]}
