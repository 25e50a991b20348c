"""Alerts for regulators (all of them) and manufacturers (their own products'), with a triage status."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from app.db.models import ALERT_OPEN, Alert, Product
from app.domain.alerts import ALERT_STATUSES, AlertStatus
from app.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.domain.orgs import Role
from app.services.clock import utcnow
from app.services.orgs import Principal


def _visible(principal: Principal) -> Select[tuple[Alert]]:
    query = select(Alert)
    if principal.role is Role.REGULATOR:
        return query
    if principal.role is Role.MANUFACTURER:
        return query.join(Product, Product.gtin == Alert.gtin).where(Product.manufacturer_id == principal.org_id)
    raise Forbidden("alerts are for regulators and for manufacturers about their products", code="wrong_role")


def list_alerts(
    session: Session,
    principal: Principal,
    *,
    type_: str | None = None,
    status: str | None = None,
    region: str | None = None,
    org: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[Alert]:
    query = _visible(principal)
    if type_:
        query = query.where(Alert.type == type_)
    if status:
        query = query.where(Alert.status == status)
    if region:
        query = query.where(Alert.region.startswith(region))
    if org:
        query = query.where(Alert.org_id == org)
    if since:
        query = query.where(Alert.created_at >= since)
    if until:
        query = query.where(Alert.created_at < until)
    if before_id:
        query = query.where(Alert.id < before_id)
    return list(session.scalars(query.order_by(Alert.id.desc()).limit(limit)))


def get_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    alert = session.scalar(_visible(principal).where(Alert.id == alert_id))
    if alert is None:
        raise NotFound(f"no alert {alert_id} that you may see", code="alert_not_found")
    return alert


def triage(session: Session, principal: Principal, alert_id: int, *, status: str, root_cause: str | None) -> Alert:
    principal.require_role(Role.REGULATOR)
    alert = get_alert(session, principal, alert_id)
    if status not in ALERT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(ALERT_STATUSES)}", code="invalid_status")
    closed = AlertStatus.CLOSED
    if status == closed and not (root_cause or "").strip():
        raise InvalidInput("closing an alert needs its root cause", code="root_cause_required")
    if alert.status == closed and status != closed:
        _reopen(session, alert)
    alert.status = status
    alert.root_cause = root_cause or alert.root_cause
    alert.updated_at = utcnow()
    return alert


def _reopen(session: Session, alert: Alert) -> None:
    """A closed alert may be opened again only while no other alert of its code and kind is open: that one is
    where the repeats are counted (one open alert per code and kind, kept by a unique index)."""
    found = session.scalar(
        select(Alert.id).where(
            Alert.type == alert.type, Alert.gtin == alert.gtin, Alert.serial == alert.serial, ALERT_OPEN
        )
    )
    if found is not None and alert.gtin is not None:
        raise Conflict(
            f"alert {found} is open for the same code and kind; triage that one",
            code="alert_already_open",
            open_alert_id=found,
        )


def alert_view(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "type": alert.type,
        "severity": alert.severity,
        "unit": {"gtin": alert.gtin, "serial": alert.serial} if alert.gtin else None,
        "org": alert.org_id,
        "region": alert.region,
        "created_at": alert.created_at.isoformat(),
        "status": alert.status,
        "root_cause": alert.root_cause,
        "updated_at": alert.updated_at.isoformat() if alert.updated_at else None,
        # The repeats, counted on the one open alert of this code and kind (app/db/alerts.py).
        "details": {
            **alert.details,
            "count": alert.count,
            "last_seen": (alert.last_at or alert.created_at).isoformat(),
        },
    }
