"""Saleable returns: a drug coming back to an organisation that shipped it is received back into stock only after
a positive verification by the receiver in the ``dscsaSaleableReturn`` context (docs/partner-verification.md), made
at most ``RETURN_WINDOW`` before the receipt, or with the receiver's explicit ``override`` (its reason is kept in the
event's payload and raises a ``return_override`` alert)."""

from __future__ import annotations

from sqlalchemy import select

from app.db.alerts import raise_alert
from app.db.models import Event, EventItem, Unit
from app.domain.alerts import SEVERITY, AlertType
from app.domain.custody import Action, Refused
from app.domain.orgs import DRUG_CATEGORIES
from app.domain.partner_verification import RETURN_WINDOW
from app.services.custody.recorder import Occurrence, Recorder
from app.services.partner_verification import verified_for_return

_CHUNK = 500


def shipped_before(rec: Recorder, units: list[Unit], event_id: int) -> set[int]:
    """Of ``units``, those the receiver shipped earlier (named directly), i.e. that are coming back: one query per
    500 units, for a whole event's units."""
    ids = sorted({unit.id for unit in units})
    found: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        found.update(
            rec.session.scalars(
                select(EventItem.unit_id)
                .join(Event, Event.id == EventItem.event_id)
                .where(
                    EventItem.unit_id.in_(ids[start : start + _CHUNK]),
                    Event.id != event_id,
                    Event.org_id == rec.actor,
                    Event.action == Action.SHIP.value,
                )
                .distinct()
            )
        )
    return found


def check_return(rec: Recorder, occ: Occurrence, unit: Unit) -> None:
    """``rec.returning``: the event's units ``shipped_before`` (computed once per receive event)."""
    if rec.product(unit.gtin).category not in DRUG_CATEGORIES or unit.id not in rec.returning:
        return
    if verified_for_return(rec.session, rec.actor, unit.id, occ.at - RETURN_WINDOW):
        return
    if occ.ev.override is None:
        raise Refused(
            "a returned drug is received back only after a positive verification in the dscsaSaleableReturn context "
            "(GET its Digital Link with linkType=gs1:verificationService), or with 'override': the reason",
            code="return_not_verified",
        )
    raise_alert(
        rec.session,
        type_=AlertType.RETURN_OVERRIDE,
        severity=SEVERITY[AlertType.RETURN_OVERRIDE],
        at=rec.policy.now,
        unit_id=unit.id,
        gtin=unit.gtin,
        serial=unit.serial,
        org_id=rec.actor,
        details={"reason": occ.ev.override, "event_id": occ.event.id},
    )
