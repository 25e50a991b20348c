"""What a consumer is told about a unit: the steps of its journey (no company names, prices or order numbers),
and the open alerts that make a scan of it suspect."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.domain.custody import Status

# The step a consumer reads for each action (a sale says where it was sold: ``consumer_step``).
CONSUMER_STEP = {
    "ship": "shipped",
    "receive": "received",
    "dispense": "dispensed",
    "return": "returned",
    "destroy": "destroyed",
    "recycle": "recycled",
    "lock": "quarantined",
    "unlock": "released",
    "report_stolen": "reported_stolen",
    "export": "exported",
    "open": "opened",
}


def consumer_step(action: str, channel: str | None) -> str | None:
    """The step an event shows a consumer; ``None``: not shown (packing, unpacking, undo)."""
    if action == "sell":
        return "sold_online" if channel == "online" else "sold_in_store"
    return CONSUMER_STEP.get(action)


def consumer_steps(events: Iterable[tuple[str, str | None, datetime, str | None]]) -> list[dict[str, Any]]:
    """The steps a consumer reads for a unit's events (action, channel, when, region), in the order given; the
    caller leaves out undone events and undos."""
    steps = []
    for action, channel, at, region in events:
        step = consumer_step(action, channel)
        if step is not None:
            steps.append({"step": step, "at": at.isoformat(), "region": region})
    return steps


def suspect_flags(status: str, *, repeat_sale: bool, clone: bool, investigated: bool = False) -> tuple[str, ...]:
    """What makes a scan suspect: an active suspect-product case names the unit or its lot, a second sale was
    attempted (an open alert), or the code is scanned as a clone (an open alert)."""
    flags = ["under_investigation"] if investigated else []
    if repeat_sale and status in (Status.SOLD, Status.DISPENSED, Status.RETURNED):
        flags.append("repeat_sale")
    if clone:
        flags.append("clone_suspect")
    return tuple(flags)
