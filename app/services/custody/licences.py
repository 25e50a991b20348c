"""Authorised trading partners: a drug is shipped, received and sold only between organisations holding, on the
day the event happened, the licence their role trades under (app/domain/licences.py). A refusal carries its
alert: ``unlicensed_trade`` for a shipment or receipt, ``unlicensed_sale`` for a sale by a seller whose licence
expired (a seller who never held one is alerted through the sale rules' table)."""

from __future__ import annotations

from typing import Any

from app.domain.alerts import AlertType
from app.domain.custody import SALE_ACTIONS, Action, Custody, Refused
from app.domain.errors import AlertDraft
from app.domain.licences import Party, licence_refusal, trade_refusal
from app.domain.orgs import DRUG_CATEGORIES, LicenceKind
from app.services.custody import containers
from app.services.custody.recorder import Occurrence, Recorder
from app.services.custody.subjects import Subject

_SELLING = {
    Action.SELL: frozenset({LicenceKind.DRUG_RETAIL}),
    Action.DISPENSE: frozenset({LicenceKind.DRUG_RETAIL, LicenceKind.MEDICAL_INSTITUTION}),
}


def _is_drug(rec: Recorder, subject: Subject) -> bool:
    if subject.unit is not None:
        return rec.product(subject.unit.gtin).category in DRUG_CATEGORIES
    return any(
        rec.product(rec.batch(batch_id).gtin).category in DRUG_CATEGORIES for batch_id in containers.lots(rec, subject)
    )


def check_trade(rec: Recorder, occ: Occurrence, subject: Subject, before: Custody, after: Custody) -> None:
    """Refuse a shipment, receipt, sale or dispensing of drugs by or with an organisation not licensed that day."""
    action = occ.action
    if action not in (Action.SHIP, Action.RECEIVE, *SALE_ACTIONS) or not _is_drug(rec, subject):
        return
    # What the licences decide depends on the event and the two parties only: decided once per pair in a list.
    passed = ("trade", before.holder, after.to)
    if passed in rec.passed:
        return
    if action in SALE_ACTIONS:
        _check_seller(rec, occ, subject)
        rec.passed.add(passed)
        return
    parties = [(Party.SENDER, rec.actor), (Party.RECEIVER, after.to)]
    if action is Action.RECEIVE:
        parties = [(Party.RECEIVER, rec.actor), (Party.SENDER, before.holder)]
    for party, org_id in parties:
        org = rec.org(org_id) if org_id else None
        if org is None:
            continue
        whose = "your" if org.id == rec.actor else f"the {party} {org.name}'s"
        refusal = trade_refusal(org.role, rec.licence_terms(org.id), occ.at, whose=whose)
        if refusal is not None:
            refusal.extra.update(party=party.value, org=org.id)
            refusal.alerts.append(_alert(AlertType.UNLICENSED_TRADE, rec, occ, subject, refusal))
            raise refusal
    rec.passed.add(passed)


def _check_seller(rec: Recorder, occ: Occurrence, subject: Subject) -> None:
    refusal = licence_refusal(_SELLING[occ.action], rec.licence_terms(rec.actor), occ.at, whose="your")
    if refusal is None:
        return
    refusal.extra.update(party=Party.SELLER.value, org=rec.actor)
    if refusal.code == "licence_expired":  # licence_required is alerted through the sale rules' table
        refusal.alerts.append(_alert(AlertType.UNLICENSED_SALE, rec, occ, subject, refusal))
    raise refusal


def _alert(kind: AlertType, rec: Recorder, occ: Occurrence, subject: Subject, refusal: Refused) -> AlertDraft:
    details: dict[str, Any] = {
        "reason": refusal.detail,
        "refusal": refusal.code,
        "action": occ.action.value,
        "attempted_by": rec.actor,
        "code": subject.text,
        "party": refusal.extra.get("party"),
        "unlicensed_org": refusal.extra.get("org"),
        "licence": refusal.extra.get("licence"),
    }
    unit = subject.unit
    if unit is None:
        return AlertDraft(kind.value, details)
    return AlertDraft(kind.value, details, unit_id=unit.id, gtin=unit.gtin, serial=unit.serial)
