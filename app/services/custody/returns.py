"""Saleable returns: a drug coming back to an organisation that shipped it is received back into stock only after
a positive verification by the receiver in the ``dscsaSaleableReturn`` context (docs/partner-verification.md), made
at most ``RETURN_WINDOW`` before the receipt, or with the receiver's explicit ``override`` (its reason is kept in the
event's payload and raises a ``return_override`` alert)."""

from __future__ import annotations

from sqlalchemy import exists, select

from app.db.alerts import raise_alert
from app.db.models import Event, EventItem, Unit
from app.domain.alerts import SEVERITY, AlertType
from app.domain.custody import Action, Refused
from app.domain.orgs import DRUG_CATEGORIES
from app.domain.partner_verification import RETURN_WINDOW
from app.services.custody.recorder import Occurrence, Recorder
from app.services.partner_verification import verified_for_return


def shipped_before(rec: Recorder, unit: Unit, event_id: int) -> bool:
    """Whether the receiver shipped this unit earlier (named directly), i.e. it is coming back."""
    return bool(
        rec.session.scalar(
            select(
                exists().where(
                    EventItem.unit_id == unit.id,
                    Event.id == EventItem.event_id,
                    Event.id != event_id,
                    Event.org_id == rec.actor,
                    Event.action == Action.SHIP.value,
                )
            )
        )
    )


def check_return(rec: Recorder, occ: Occurrence, unit: Unit) -> None:
    if rec.product(unit.gtin).category not in DRUG_CATEGORIES or not shipped_before(rec, unit, occ.event.id):
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
