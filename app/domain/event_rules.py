"""What a custody event must carry, what it names, when it may be undone, and which refusals raise which alert.

The custody table (app/domain/custody.py) decides what an action does to a record; the rules here decide whether
an event is well formed before any record is looked at, and whether an earlier event may still be taken back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from app.domain.custody import RULES, SALE_ACTIONS, Action, Custody, Refused, Takes
from app.domain.errors import Forbidden, InvalidInput, NotFound
from app.domain.sale_rules import ALERT_FOR
from app.domain.sale_rules import Prescription as PrescriptionFacts
from app.domain.settlement import SettlementIn, check_settlement

FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks of tills and scanners drift


@dataclass(frozen=True, slots=True)
class EventIn:
    """One event as a client sends it (``POST /v1/events``, EPCIS capture, the demo)."""

    action: str
    codes: list[str] = field(default_factory=list)
    occurred_at: datetime | None = None
    to: str | None = None
    region: str | None = None
    idempotency_key: str | None = None
    container: str | None = None
    channel: str | None = None
    platform: str | None = None
    order_ref: str | None = None
    prescription: PrescriptionFacts | None = None
    event_id: int | None = None
    settlement: SettlementIn | None = None  # an insurance settlement of a sale or dispensing (NHSA)
    override: str | None = None  # why a returned drug is received without a positive partner verification


class ResultStatus(StrEnum):
    """What became of one event of a request."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # a retry of an event already recorded: answered with that event
    REJECTED = "rejected"  # refused (a non-atomic batch records the others)


@dataclass(frozen=True, slots=True)
class Policy:
    """The clock and the windows one request is judged by."""

    now: datetime
    undo_window: timedelta
    duplicate_window: timedelta


def parse_action(text: str) -> Action:
    try:
        return Action(text)
    except ValueError:
        raise InvalidInput(
            f"unknown action {text!r}; the actions are {', '.join(Action)}", code="invalid_action"
        ) from None


def check_occurred_at(occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidInput("occurred_at is in the future", code="occurred_in_future")
    if occurred_at.year < 2000:
        raise InvalidInput("occurred_at is before the year 2000", code="occurred_too_early")


def check_fields(action: Action, ev: EventIn, org_exists: Callable[[str], bool]) -> None:
    """The fields an action needs (not the codes, checked by the caller first)."""
    if action is Action.SHIP:
        if not ev.to:
            raise InvalidInput("a shipment needs 'to': the receiving organisation's id", code="destination_required")
        if not org_exists(ev.to):
            raise NotFound(f"no organisation {ev.to}", code="org_not_found")
    if action is Action.PACK and not ev.container:
        raise InvalidInput("pack needs 'container': the SSCC of the case or pallet", code="container_required")
    if action is Action.SELL:
        if ev.channel not in ("offline", "online"):
            raise InvalidInput("a sale needs 'channel': 'offline' or 'online'", code="channel_required")
        if ev.channel == "online" and (not ev.platform or not ev.order_ref):
            raise InvalidInput("an online sale needs 'platform' and 'order_ref'", code="online_details_required")
    if ev.settlement is not None:
        if action not in SALE_ACTIONS:
            raise InvalidInput("only a sale or a dispensing is settled with insurance", code="settlement_not_allowed")
        check_settlement(ev.settlement)
    if ev.override is not None and action is not Action.RECEIVE:
        raise InvalidInput(
            "'override' is only for receiving a returned unit without a positive verification",
            code="override_not_allowed",
        )
    if ev.prescription is not None and ev.prescription.issued_at.tzinfo is None:
        raise InvalidInput("prescription.issued_at needs a time zone", code="invalid_time")


def check_takes(action: Action, text: str, *, is_unit: bool) -> None:
    """An action that takes only units (a sale) or only containers (unpack) refuses the other kind."""
    rule = RULES[action]
    if rule.takes is Takes.UNITS and not is_unit:
        raise InvalidInput(f"{action.value} applies to units, not to container {text}", code="not_a_unit")
    if rule.takes is Takes.CONTAINERS and is_unit:
        raise InvalidInput(f"{action.value} takes a container; {text} is a unit", code="not_a_container")


def sale_channel(action: Action, ev: EventIn) -> str | None:
    """The channel an event row records: a sale's own, ``offline`` for dispensing, none otherwise."""
    if action is Action.SELL:
        return ev.channel
    return "offline" if action is Action.DISPENSE else None


def payload(ev: EventIn) -> dict[str, Any]:
    """The event as it was asked for (stored with the event row): the fields given, times in ISO 8601."""
    body: dict[str, Any] = {"action": ev.action}
    names = ("codes", "to", "region", "idempotency_key", "container", "channel", "platform", "order_ref", "override")
    for name in names:
        value = getattr(ev, name)
        if value not in (None, []):
            body[name] = value
    if ev.event_id is not None:
        body["event_id"] = ev.event_id
    if ev.occurred_at is not None:
        body["occurred_at"] = ev.occurred_at.isoformat()
    if ev.prescription is not None:
        body["prescription"] = {
            "id": ev.prescription.id,
            "prescriber": ev.prescription.prescriber,
            "issued_at": ev.prescription.issued_at.isoformat(),
        }
    return body


def alert_kind(code: str, action: Action) -> str | None:
    """The alert a refusal raises, if any. The sale alerts are about sale attempts (a ship refused as
    ``already_sold`` is not a resale); custody violations are a sale by someone who never held the unit, or a
    receipt nobody shipped."""
    kind = ALERT_FOR.get(code)
    allowed = (*SALE_ACTIONS, Action.RECEIVE) if kind == "custody_violation" else SALE_ACTIONS
    if kind is None or action not in allowed:
        return None
    return kind


# ----------------------------------------------------------------------------------------------------- undo


@dataclass(frozen=True, slots=True)
class UndoTarget:
    """What undo needs to know of the event it would take back."""

    event_id: int
    org_id: str
    action: str
    recorded_at: datetime
    undone: bool


def check_undo(target: UndoTarget, actor: str, policy: Policy) -> None:
    """Only its recorder undoes an event, only an undoable action, once, and within the undo window."""
    if target.org_id != actor:
        raise Forbidden("only the organisation that recorded an event may undo it", code="foreign_event")
    rule = RULES.get(Action(target.action))
    if rule is None or not rule.undoable:
        raise Refused(f"a {target.action} event cannot be undone", code="not_undoable")
    if target.undone:
        raise Refused(f"event {target.event_id} is already undone", code="already_undone")
    if policy.now - target.recorded_at > policy.undo_window:
        raise Refused(f"event {target.event_id} is older than the undo window", code="undo_window_passed")


def check_restorable(
    text: str, target_id: int, current: Custody, logged_after: Custody, expires_on: date | None, on: date
) -> None:
    """An item is restored only if nothing moved it since, and an expired unit stays decommissioned."""
    if current != logged_after:
        raise Refused(f"{text} has moved on since event {target_id}", code="superseded")
    if expires_on is not None and expires_on < on:
        raise Refused(f"{text} has expired; its decommissioning stands", code="expired")
