"""A unit's record and chain of custody, with the visibility rules of the contract.

The regulator and the product's manufacturer see everything; an organisation that handled the unit sees the
events it took part in (as actor, addressee or platform); anyone else is refused.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app.db.history import HistoryEvent, alert_types, outermost_container, unit_events
from app.db.models import Batch, Issuance, Organisation, Product, Settlement, Unit
from app.domain.consumer import consumer_steps, suspect_flags
from app.domain.custody import PUBLIC_STATE, Status
from app.domain.errors import Forbidden, NotFound
from app.domain.identifiers import validate_gtin
from app.domain.orgs import READS_EVERYTHING
from app.services.orgs import Principal
from app.services.recalls import covering


def effective_custody(conn: Connection, unit: Any) -> tuple[str, str | None, str | None, str | None]:
    """(internal status, holder, in transit to, outermost container) of a unit row (container-aware)."""
    if unit.container_sscc is not None:
        sscc, state, holder, to = outermost_container(conn, unit.container_sscc)
        return state, holder, to, sscc
    return unit.state, unit.holder_id, unit.to_id, None


def issued_step(issued: tuple[Any, str | None]) -> list[dict[str, Any]]:
    return [{"step": "issued", "at": issued[0].isoformat(), "region": issued[1]}]


def journey(conn: Connection, unit_id: int, issued: tuple[Any, str | None]) -> list[dict[str, Any]]:
    """The consumer's view of the path: steps, times and coarse regions; undone events left out."""
    standing = (
        (e.action, e.channel, e.occurred_at, e.region)
        for e in unit_events(conn, unit_id)
        if e.undone_by_event_id is None and e.undoes_event_id is None
    )
    return issued_step(issued) + consumer_steps(standing)


def suspect_reasons(conn: Connection, unit_id: int, status: str) -> list[str]:
    kinds = alert_types(conn, unit_id)
    return list(suspect_flags(status, repeat_sale="repeat_sale" in kinds, clone="clone_suspect" in kinds))


def _load(session: Session, gtin: str, serial: str) -> tuple[Unit, Product, Batch]:
    validate_gtin(gtin)
    row = session.execute(
        select(Unit, Product, Batch)
        .join(Product, Product.gtin == Unit.gtin)
        .join(Batch, Batch.id == Unit.batch_id)
        .where(Unit.gtin == gtin, Unit.serial == serial)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no unit {gtin}/{serial}", code="unit_not_found")
    return row[0], row[1], row[2]


def _visible(principal: Principal, product: Product, events: list[HistoryEvent]) -> list[HistoryEvent]:
    if principal.role in READS_EVERYTHING or product.manufacturer_id == principal.org_id:
        return events
    mine = [e for e in events if principal.org_id in (e.org_id, e.to_id, e.platform_id)]
    if not mine:
        raise Forbidden("this unit never passed through your organisation", code="foreign_unit")
    return mine


def _names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(ids))).all())


def unit_history(session: Session, principal: Principal, gtin: str, serial: str) -> dict[str, Any]:
    unit, product, _ = _load(session, gtin, serial)
    events = _visible(principal, product, unit_events(session.connection(), unit.id))
    names = _names(session, {i for e in events for i in (e.org_id, e.to_id, e.platform_id) if i})
    return {
        "gtin": gtin,
        "serial": serial,
        "events": [
            {
                "event_id": e.id,
                "action": e.action,
                "occurred_at": e.occurred_at.isoformat(),
                "recorded_at": e.recorded_at.isoformat(),
                "org": {"id": e.org_id, "name": names.get(e.org_id)},
                "to": {"id": e.to_id, "name": names.get(e.to_id)} if e.to_id else None,
                "region": e.region,
                "channel": e.channel,
                "platform": {"id": e.platform_id, "name": names.get(e.platform_id)} if e.platform_id else None,
                "order_ref": e.order_ref,
                "via_container": e.via,
                "undoes_event_id": e.undoes_event_id,
                "undone_by_event_id": e.undone_by_event_id,
                "log_index": e.log_index,
            }
            for e in events
        ],
    }


def unit_record(session: Session, principal: Principal, gtin: str, serial: str) -> dict[str, Any]:
    unit, product, batch = _load(session, gtin, serial)
    conn = session.connection()
    _visible(principal, product, unit_events(conn, unit.id))
    status, holder, to, container = effective_custody(conn, unit)
    holder = holder or product.manufacturer_id
    names = _names(session, {i for i in (holder, to, product.manufacturer_id) if i})
    issuance = session.get(Issuance, unit.issuance_id)
    return {
        "gtin": gtin,
        "serial": serial,
        "lot": batch.lot,
        "expires_on": batch.expires_on.isoformat(),
        "batch_id": batch.id,
        "issued_at": issuance.created_at.isoformat() if issuance else None,
        "product": {"gtin": product.gtin, "name": product.name, "category": product.category},
        "manufacturer": {"id": product.manufacturer_id, "name": names.get(product.manufacturer_id)},
        "state": PUBLIC_STATE[Status(status)],
        "status": status,
        "holder": {"id": holder, "name": names.get(holder)},
        "in_transit_to": {"id": to, "name": names.get(to)} if to else None,
        "container": container,
        "suspect": suspect_reasons(conn, unit.id, status),
        "recalls": [
            {"id": r.id, "class": r.recall_class, "reason": r.reason, "trace": f"/v1/recalls/{r.id}/trace"}
            for r in covering(conn, gtin, batch.lot, serial)
        ],
        "settlements": [  # medical-insurance settlements of the code (NHSA), a split pack's one per part
            {
                "scheme": s.scheme,
                "ref": s.ref,
                "part": s.part,
                "at": s.settled_at.isoformat(),
                "region": s.region,
                "org": s.org_id,
                "event_id": s.event_id,
            }
            for s in session.scalars(select(Settlement).where(Settlement.unit_id == unit.id).order_by(Settlement.part))
            if principal.role in READS_EVERYTHING or principal.org_id in (s.org_id, product.manufacturer_id)
        ],
    }
