"""The custody state machine: one table, one row per action, and ``apply`` is a lookup in it.

A custody record belongs to a loose unit or to the outermost container holding it (units inside a container
follow it, so a pallet hop changes one record). ``apply`` is pure: it takes the record, the action, the actor and
the addressee, and returns the next record or raises ``Refused`` with a stable code. Everything a custody rule
decides (from which statuses, to which, who may act, whether a destination is needed, what the action takes,
whether it may be undone, and how a status outside the row is refused) is a column of ``RULES``; ``undo`` is the
service's (it restores the logged record) and has no row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
ON_HAND = frozenset({Status.ISSUED, Status.HELD, Status.RETURNED})
CONSUMER_HELD = frozenset({Status.SOLD, Status.DISPENSED})  # a consumer has it; they may hand it in anywhere


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

    def to_json(self) -> dict[str, Any]:
        """The record as event items and log leaves carry it (``before`` / ``after``)."""
        return {
            "status": self.status.value,
            "holder": self.holder,
            "to": self.to,
            "previous": self.previous.value if self.previous else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Custody:
        return cls(
            Status(data["status"]),
            data["holder"],
            data["to"],
            Status(data["previous"]) if data["previous"] else None,
        )


class Target(StrEnum):
    """A to-state that is not a status of its own."""

    SAME = "same"  # the record is unchanged
    PREVIOUS = "previous"  # back to what a lock remembered (held if it remembered nothing)


class Actor(StrEnum):
    """Who may perform an action."""

    HOLDER = "holder"  # the current custodian; in transit, the sender; after a sale, the seller
    ADDRESSEE = "addressee"  # the organisation a shipment is addressed to


class Takes(StrEnum):
    """What an action may name."""

    ANY = "any"  # units and containers (a container stands for everything inside it)
    UNITS = "units"
    CONTAINERS = "containers"


SAME = Target.SAME
PREVIOUS = Target.PREVIOUS


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the machine: ``moves`` maps each status the action is allowed from to the status it leads to."""

    moves: Mapping[Status, Status | Target]
    by: Actor = Actor.HOLDER
    anyone_when: frozenset[Status] = frozenset()  # statuses in which any organisation may act instead
    needs_destination: bool = False
    takes: Takes = Takes.ANY
    undoable: bool = False
    refused: str | None = None  # the code for a status not in ``moves``; ``None``: the status's own code


S = Status
RULES: dict[Action, Rule] = {
    Action.PACK: Rule({S.HELD: SAME, S.ISSUED: SAME, S.RETURNED: SAME}),
    Action.UNPACK: Rule({S.HELD: SAME, S.ISSUED: SAME, S.RETURNED: SAME}, takes=Takes.CONTAINERS),
    Action.SHIP: Rule({S.HELD: S.IN_TRANSIT, S.ISSUED: S.IN_TRANSIT, S.RETURNED: S.IN_TRANSIT}, needs_destination=True),
    Action.RECEIVE: Rule({S.IN_TRANSIT: S.HELD}, by=Actor.ADDRESSEE, refused="not_in_transit"),
    Action.SELL: Rule({S.ISSUED: S.SOLD, S.HELD: S.SOLD}, takes=Takes.UNITS, undoable=True),
    # A split pack is dispensed in parts by its holder: it stays open.
    Action.DISPENSE: Rule({S.HELD: S.DISPENSED, S.OPEN: SAME}, takes=Takes.UNITS, undoable=True),
    Action.OPEN: Rule({S.HELD: S.OPEN}, takes=Takes.UNITS),
    Action.RETURN: Rule({S.DISPENSED: S.RETURNED, S.SOLD: S.RETURNED}, takes=Takes.UNITS, refused="not_sold"),
    Action.DESTROY: Rule(dict.fromkeys((S.HELD, S.ISSUED, S.LOCKED, S.OPEN, S.RETURNED), S.DESTROYED)),
    Action.RECYCLE: Rule(
        dict.fromkeys((S.DISPENSED, S.HELD, S.ISSUED, S.OPEN, S.RETURNED, S.SOLD), S.RECYCLED),
        anyone_when=CONSUMER_HELD,
        takes=Takes.UNITS,
    ),
    Action.LOCK: Rule(dict.fromkeys((S.HELD, S.ISSUED, S.OPEN, S.RETURNED), S.LOCKED), undoable=True),
    Action.UNLOCK: Rule({S.LOCKED: PREVIOUS}, refused="not_locked"),
    Action.REPORT_STOLEN: Rule(dict.fromkeys((S.HELD, S.IN_TRANSIT, S.ISSUED, S.LOCKED, S.OPEN, S.RETURNED), S.STOLEN)),
    Action.EXPORT: Rule({S.ISSUED: S.EXPORTED, S.HELD: S.EXPORTED}, undoable=True),
}
del S

UNDOABLE_ACTIONS = frozenset(action for action, rule in RULES.items() if rule.undoable)

# How a status refuses an action whose row does not name it (unless the row has a code of its own).
REFUSAL_BY_STATUS: dict[Status, str] = {
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


def rule_for(action: Action) -> Rule | None:
    """The row of ``action``; ``None`` for undo, which the service performs."""
    return RULES.get(action)


def refusal_code(status: Status, action: Action) -> str:
    """The stable code for a pair the table does not allow."""
    rule = RULES.get(action)
    if rule is not None and rule.refused is not None:
        return rule.refused
    return REFUSAL_BY_STATUS.get(status, "invalid_transition")


def apply(custody: Custody, action: Action, actor: str, to: str | None = None) -> Custody:
    """The record after ``actor`` performs ``action``; raises ``Refused`` when a rule forbids it.

    The next record is held by whoever acted (for a holder's action, the holder), addressed to the destination
    of an action that needs one, and remembers the status it leaves when it is a lock."""
    rule = RULES.get(action)
    target = rule.moves.get(custody.status) if rule is not None else None
    if rule is None or target is None:
        raise Refused(
            f"cannot {action.value.replace('_', ' ')} a unit that is {custody.status.value.replace('_', ' ')}",
            code=refusal_code(custody.status, action),
        )
    if rule.by is Actor.ADDRESSEE:
        if custody.to != actor:
            raise Refused("this shipment is not addressed to your organisation", code="not_addressed_to_you")
    elif custody.status not in rule.anyone_when and custody.holder != actor:
        raise Refused("only the current custodian may do this", code="not_custodian")
    if rule.needs_destination:
        if not to:
            raise Refused("a shipment needs a destination organisation ('to')", code="destination_required")
        if to == actor:
            raise Refused("a shipment must go to another organisation", code="ship_to_self")
    if target is SAME:
        return custody
    status = (custody.previous or Status.HELD) if target is PREVIOUS else Status(target)
    return Custody(
        status,
        holder=actor,
        to=to if rule.needs_destination else None,
        previous=custody.status if target is Status.LOCKED else None,
    )
