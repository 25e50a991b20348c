"""Alerts: the kinds the service raises, how severe each is, and the statuses a regulator triages them through.

Custody refusals raise the sale and custody kinds (``app.domain.sale_rules.ALERT_FOR`` names which), the scan
writer the scan kinds; the console lists them in this order."""

from __future__ import annotations

from enum import StrEnum


class AlertType(StrEnum):
    # raised by custody events (refusals)
    REPEAT_SALE = "repeat_sale"
    REPEAT_SETTLEMENT = "repeat_settlement"  # a code settled with medical insurance twice (NHSA)
    CUSTODY_VIOLATION = "custody_violation"
    UNLICENSED_SALE = "unlicensed_sale"
    UNLICENSED_TRADE = "unlicensed_trade"  # a drug shipped to or received from an organisation not licensed that day
    PRESCRIPTION_MISSING = "prescription_missing"
    EXPIRED_SALE_ATTEMPT = "expired_sale_attempt"
    RECALLED_SALE_ATTEMPT = "recalled_sale_attempt"
    INVESTIGATED_SALE_ATTEMPT = "investigated_sale_attempt"  # a unit or lot in an active suspect-product case
    # raised by scans (and by an event naming a code never issued)
    UNKNOWN_CODE = "unknown_code"
    INVALID_SIGNATURE = "invalid_signature"
    CLONE_SUSPECT = "clone_suspect"
    # raised by verifications between trading partners
    VERIFICATION_ORACLE = "verification_oracle"  # a partner asks about many units it never held
    RETURN_OVERRIDE = "return_override"  # a saleable return received without a positive verification


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"


SEVERITY: dict[AlertType, Severity] = {
    AlertType.REPEAT_SALE: Severity.HIGH,
    AlertType.REPEAT_SETTLEMENT: Severity.HIGH,
    AlertType.CUSTODY_VIOLATION: Severity.MEDIUM,
    AlertType.UNLICENSED_SALE: Severity.HIGH,
    AlertType.UNLICENSED_TRADE: Severity.HIGH,
    AlertType.PRESCRIPTION_MISSING: Severity.HIGH,
    AlertType.EXPIRED_SALE_ATTEMPT: Severity.MEDIUM,
    AlertType.RECALLED_SALE_ATTEMPT: Severity.HIGH,
    AlertType.INVESTIGATED_SALE_ATTEMPT: Severity.HIGH,
    AlertType.UNKNOWN_CODE: Severity.MEDIUM,
    AlertType.INVALID_SIGNATURE: Severity.HIGH,
    AlertType.CLONE_SUSPECT: Severity.HIGH,
    AlertType.VERIFICATION_ORACLE: Severity.HIGH,
    AlertType.RETURN_OVERRIDE: Severity.MEDIUM,
}


class AlertStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"  # still open: a repeat counts on it
    CLOSED = "closed"


ALERT_TYPES: tuple[str, ...] = tuple(t.value for t in AlertType)
ALERT_STATUSES: tuple[str, ...] = tuple(s.value for s in AlertStatus)
TRIAGE_STATUSES: tuple[str, ...] = (AlertStatus.INVESTIGATING.value, AlertStatus.CLOSED.value)  # a regulator sets
