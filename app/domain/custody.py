"""The custody state machine: one transition table, every (status, action) pair decided in one place.

A custody record belongs to a loose unit or to the outermost container holding it (units inside a container
follow it, so a pallet hop changes one record). ``apply`` is pure: it takes the record, the action, the actor and
the addressee, and returns the next record or raises ``Refused`` with a stable code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from app.domain.errors import Conflict


class Status(StrEnum):
    ISSUED = "issued"  # at the manufacturer, never moved
    HELD = "held"
    IN_TRANSIT = "in_transit"
    OPEN = "open"  # a pack split open to dispense in parts
    LOCKED = "locked"  # quarantine; ``previous`` remembers what it was
    RETURNED = "returned"
    SOLD = "sold"
    DISPENSED = "dispensed"
    DESTROYED = "destroyed"
    RECYCLED = "recycled"
    STOLEN = "stolen"
    EXPORTED = "exported"


class Action(StrEnum):
    PACK = "pack"
    UNPACK = "unpack"
    SHIP = "ship"
    RECEIVE = "receive"
    SELL = "sell"
    DISPENSE = "dispense"
    RETURN = "return"
    DESTROY = "destroy"
    RECYCLE = "recycle"
    LOCK = "lock"
    UNLOCK = "unlock"
    REPORT_STOLEN = "report_stolen"
    EXPORT = "export"
    OPEN = "open"
    UNDO = "undo"


# What the public verification reports for each internal status.
PUBLIC_STATE: dict[Status, str] = {
    Status.ISSUED: "issued",
    Status.HELD: "in_supply_chain",
    Status.IN_TRANSIT: "in_supply_chain",
    Status.OPEN: "dispensed",
    Status.LOCKED: "locked",
    Status.RETURNED: "in_supply_chain",
    Status.SOLD: "sold",
    Status.DISPENSED: "dispensed",
    Status.DESTROYED: "destroyed",
    Status.RECYCLED: "recycled",
    Status.STOLEN: "stolen",
    Status.EXPORTED: "exported",
}

SALE_ACTIONS = frozenset({Action.SELL, Action.DISPENSE})
UNDOABLE_ACTIONS = frozenset({Action.SELL, Action.DISPENSE, Action.EXPORT, Action.LOCK})
ON_HAND = frozenset({Status.ISSUED, Status.HELD, Status.RETURNED})


class Refused(Conflict):
    """A custody rule refuses the event (HTTP 409 with ``code``)."""


@dataclass(frozen=True, slots=True)
class Custody:
    status: Status
    holder: str | None  # the organisation responsible; for in_transit, the sender
    to: str | None = None  # in transit: the addressee
    previous: Status | None = None  # locked: the status to return to

    @property
    def public_state(self) -> str:
        return PUBLIC_STATE[self.status]


# (status, action) -> resulting status. ``None`` as a result means "status unchanged".
# Who may act is decided by ``_ACTOR`` below: the holder, the addressee, or (for recycle) any organisation.
TRANSITIONS: dict[tuple[Status, Action], Status | None] = {
    **{(s, Action.PACK): None for s in ON_HAND},
    **{(s, Action.UNPACK): None for s in ON_HAND},
    **{(s, Action.SHIP): Status.IN_TRANSIT for s in ON_HAND},
    (Status.IN_TRANSIT, Action.RECEIVE): Status.HELD,
    (Status.ISSUED, Action.SELL): Status.SOLD,
    (Status.HELD, Action.SELL): Status.SOLD,
    (Status.HELD, Action.DISPENSE): Status.DISPENSED,
    (Status.OPEN, Action.DISPENSE): None,  # a split pack is dispensed in parts by its holder
    (Status.HELD, Action.OPEN): Status.OPEN,
    (Status.SOLD, Action.RETURN): Status.RETURNED,
    (Status.DISPENSED, Action.RETURN): Status.RETURNED,
    **{(s, Action.DESTROY): Status.DESTROYED for s in (*ON_HAND, Status.OPEN, Status.LOCKED)},
    **{(s, Action.RECYCLE): Status.RECYCLED for s in (*ON_HAND, Status.OPEN, Status.SOLD, Status.DISPENSED)},
    **{(s, Action.LOCK): Status.LOCKED for s in (*ON_HAND, Status.OPEN)},
    (Status.LOCKED, Action.UNLOCK): None,  # back to ``previous``
    **{(s, Action.REPORT_STOLEN): Status.STOLEN for s in (*ON_HAND, Status.OPEN, Status.LOCKED, Status.IN_TRANSIT)},
    (Status.ISSUED, Action.EXPORT): Status.EXPORTED,
    (Status.HELD, Action.EXPORT): Status.EXPORTED,
}

# Who may perform an action: the holder (the current custodian; after a sale, the seller), except that a
# receipt needs the addressee, and a sold unit a consumer hands back may be recycled by any organisation.
CONSUMER_HELD = frozenset({Status.SOLD, Status.DISPENSED})

_REFUSAL_BY_STATUS: dict[Status, str] = {
    Status.SOLD: "already_sold",
    Status.DISPENSED: "already_sold",
    Status.DESTROYED: "destroyed",
    Status.RECYCLED: "recycled",
    Status.STOLEN: "stolen",
    Status.EXPORTED: "exported",
    Status.LOCKED: "locked",
    Status.IN_TRANSIT: "in_transit",
    Status.OPEN: "opened",
}


def refusal_code(status: Status, action: Action) -> str:
    """The stable code for a pair the table does not allow."""
    if action is Action.RECEIVE:
        return "not_in_transit"
    if action is Action.UNLOCK:
        return "not_locked"
    if action is Action.RETURN:
        return "not_sold"
    return _REFUSAL_BY_STATUS.get(status, "invalid_transition")


def apply(custody: Custody, action: Action, actor: str, to: str | None = None) -> Custody:
    """The record after ``actor`` performs ``action``; raises ``Refused`` when a rule forbids it."""
    if (custody.status, action) not in TRANSITIONS:
        raise Refused(
            f"cannot {action.value.replace('_', ' ')} a unit that is {custody.status.value.replace('_', ' ')}",
            code=refusal_code(custody.status, action),
        )
    if action is Action.RECEIVE:
        if custody.to != actor:
            raise Refused("this shipment is not addressed to your organisation", code="not_addressed_to_you")
    elif not (action is Action.RECYCLE and custody.status in CONSUMER_HELD) and custody.holder != actor:
        raise Refused("only the current custodian may do this", code="not_custodian")

    result = TRANSITIONS[(custody.status, action)]
    if action is Action.SHIP:
        if not to:
            raise Refused("a shipment needs a destination organisation ('to')", code="destination_required")
        if to == actor:
            raise Refused("a shipment must go to another organisation", code="ship_to_self")
        return Custody(Status.IN_TRANSIT, holder=actor, to=to)
    if action is Action.RECEIVE:
        return Custody(Status.HELD, holder=actor)
    if action is Action.LOCK:
        return Custody(Status.LOCKED, holder=custody.holder, previous=custody.status)
    if action is Action.UNLOCK:
        return Custody(custody.previous or Status.HELD, holder=custody.holder)
    if action is Action.RECYCLE:
        return Custody(Status.RECYCLED, holder=actor)
    if result is None:
        return custody
    return replace(custody, status=result, to=None, previous=None)
