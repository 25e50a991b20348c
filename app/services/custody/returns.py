"""Saleable returns: a drug coming back to an organisation that shipped it is received back into stock only after
a positive verification by the receiver in the ``dscsaSaleableReturn`` context (docs/partner-verification.md), made
at most ``RETURN_WINDOW`` before the receipt, or with the receiver's explicit ``override`` (its reason is kept in the
event's payload and raises a ``return_override`` alert)."""

from __future__ import annotations

from app.db.alerts import raise_alert
from app.db.custody import UnitRow, shipped_by
from app.db.models import Unit
from app.domain.alerts import SEVERITY, AlertType
from app.domain.custody import Refused
from app.domain.orgs import DRUG_CATEGORIES
from app.domain.partner_verification import RETURN_WINDOW
from app.services.custody.recorder import Occurrence, Recorder
from app.services.partner_verification import verified_for_return


def shipped_before(rec: Recorder, units: list[Unit | UnitRow], event_id: int) -> set[int]:
    """Of ``units``, those the receiver shipped earlier (named directly), i.e. that are coming back: one query for
    a whole event's units."""
    return shipped_by(rec.session.connection(), sorted({unit.id for unit in units}), rec.actor, event_id)


def check_return(rec: Recorder, occ: Occurrence, unit: Unit | UnitRow) -> None:
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
