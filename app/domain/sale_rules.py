"""The rules a sale or a dispensing must pass, the same online and offline (China's drug sales rules).

Only licensed sellers sell drugs; online sales also need the online licence and a real platform; restricted
drugs are never sold online; prescription drugs need a prescription issued before the sale, used once;
nothing expired is sold. Each refusal names the alert type it raises, so a person can act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.domain.alerts import AlertType
from app.domain.custody import Action, Refused
from app.domain.orgs import DRUG_CATEGORIES, Category, LicenceKind, Role

# Refusal code -> alert type (None: refused without an alert).
ALERT_FOR: dict[str, AlertType | None] = {
    "already_sold": AlertType.REPEAT_SALE,
    "already_settled": AlertType.REPEAT_SETTLEMENT,
    "expired": AlertType.EXPIRED_SALE_ATTEMPT,
    "recalled": AlertType.RECALLED_SALE_ATTEMPT,
    "under_investigation": AlertType.INVESTIGATED_SALE_ATTEMPT,
    "licence_required": AlertType.UNLICENSED_SALE,
    "prescription_required": AlertType.PRESCRIPTION_MISSING,
    "prescription_used": AlertType.PRESCRIPTION_MISSING,
    "not_custodian": AlertType.CUSTODY_VIOLATION,
    "not_addressed_to_you": AlertType.CUSTODY_VIOLATION,
    "not_in_transit": AlertType.CUSTODY_VIOLATION,
}


@dataclass(frozen=True, slots=True)
class Prescription:
    id: str
    prescriber: str
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class Sale:
    action: Action
    category: str
    expires_on: date
    occurred_at: datetime
    seller_licences: frozenset[str]
    channel: str  # "offline" | "online"
    platform_role: str | None  # role of the named platform organisation; None when none was named
    platform_named: bool
    prescription: Prescription | None
    prescription_used_elsewhere: bool


def check_sale(sale: Sale) -> None:
    """Raise ``Refused`` for the first rule the sale breaks."""
    if sale.expires_on < sale.occurred_at.date():
        raise Refused(f"the unit expired on {sale.expires_on.isoformat()}", code="expired")
    drug = sale.category in DRUG_CATEGORIES
    if drug:
        retail = LicenceKind.DRUG_RETAIL
        allowed = {retail} if sale.action is Action.SELL else {retail, LicenceKind.MEDICAL_INSTITUTION}
        if not allowed & sale.seller_licences:
            needed = " or ".join(sorted(allowed))
            raise Refused(f"selling or dispensing drugs needs the {needed} licence", code="licence_required")
    if sale.channel == "online":
        if sale.platform_named and sale.platform_role != Role.PLATFORM:
            raise Refused("the platform named is not an organisation with the platform role", code="invalid_platform")
        if drug:
            if sale.category == Category.DRUG_RESTRICTED:
                raise Refused("this category of drug may never be sold online", code="not_sellable_online")
            if LicenceKind.ONLINE_DRUG_SALES not in sale.seller_licences:
                raise Refused("selling drugs online needs the online_drug_sales licence", code="licence_required")
    if sale.category == Category.DRUG_RX:
        if sale.prescription is None:
            raise Refused("a prescription drug needs a prescription", code="prescription_required")
        if sale.prescription.issued_at >= sale.occurred_at:
            raise Refused("the prescription must be issued before the sale", code="prescription_required")
        if sale.prescription_used_elsewhere:
            raise Refused(f"prescription {sale.prescription.id} has already been used", code="prescription_used")
