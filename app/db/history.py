"""A unit's history: the events that named it, and those that moved a container while it was inside.

Containers are followed through the containment intervals, nested, so a pallet hop recorded once shows in the
history of every unit that was on the pallet at the time, and in no other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, literal, null, or_, select

from app.db.custody import in_import_package
from app.db.models import Alert, Container, Containment, Event, EventItem, LogNode, Unit

_OPEN = 2**62  # an interval still open
_COLUMNS = (
    Event.id,
    Event.action,
    Event.org_id,
    Event.occurred_at,
    Event.recorded_at,
    Event.region,
    Event.to_id,
    Event.channel,
    Event.platform_id,
    Event.order_ref,
    Event.undoes_event_id,
    Event.undone_by_event_id,
    LogNode.index,
)


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    id: int
    action: str
    org_id: str
    occurred_at: datetime
    recorded_at: datetime
    region: str | None
    to_id: str | None
    channel: str | None
    platform_id: str | None
    order_ref: str | None
    undoes_event_id: int | None
    undone_by_event_id: int | None
    log_index: int | None
    via: str | None  # the container the event applied to, when the unit was inside it


def _intervals(
    conn: Connection, *, unit_id: int | None, sscc: str | None, low: int, high: int
) -> list[tuple[str, int, int]]:
    """(container, from event id, to event id) for every container enclosing the subject within [low, high)."""
    condition = Containment.unit_id == unit_id if unit_id is not None else Containment.child_sscc == sscc
    rows = conn.execute(
        select(Containment.parent_sscc, Containment.packed_event_id, Containment.unpacked_event_id).where(condition)
    ).all()
    if unit_id is not None:  # still in the package an import put it in: an interval with no row (from 0: see there)
        rows += conn.execute(
            select(Unit.container_sscc, literal(0), null()).where(Unit.id == unit_id, in_import_package())
        ).all()
    found: list[tuple[str, int, int]] = []
    for parent, packed, unpacked in rows:
        start, end = max(low, packed), min(high, unpacked or _OPEN)
        if start < end:
            found.append((parent, start, end))
            found.extend(_intervals(conn, unit_id=None, sscc=parent, low=start, high=end))
    return found


def unit_events(conn: Connection, unit_id: int) -> list[HistoryEvent]:
    intervals = _intervals(conn, unit_id=unit_id, sscc=None, low=0, high=_OPEN)
    direct = EventItem.unit_id == unit_id
    via = [
        and_(EventItem.container_sscc == sscc, EventItem.event_id > start, EventItem.event_id < end)
        for sscc, start, end in intervals
    ]
    rows = conn.execute(
        select(*_COLUMNS, EventItem.container_sscc)
        .join(EventItem, EventItem.event_id == Event.id)
        .outerjoin(LogNode, (LogNode.event_id == Event.id) & (LogNode.level == 0))
        .where(or_(direct, *via))
        .order_by(Event.occurred_at, Event.id)
    ).all()
    seen: set[int] = set()
    events: list[HistoryEvent] = []
    for row in rows:
        if row[0] in seen:
            continue
        seen.add(row[0])
        events.append(HistoryEvent(*row))
    return events


def outermost_container(conn: Connection, sscc: str) -> tuple[str, str, str | None, str | None]:
    """(sscc, state, holder, to) of the outermost container enclosing ``sscc``."""
    current = sscc
    for _ in range(32):
        row = conn.execute(
            select(Container.sscc, Container.state, Container.holder_id, Container.to_id, Container.parent_sscc).where(
                Container.sscc == current
            )
        ).one()
        if row.parent_sscc is None:
            return row.sscc, row.state, row.holder_id, row.to_id
        current = row.parent_sscc
    raise RuntimeError(f"container nesting deeper than 32 at {sscc}")


def alert_types(conn: Connection, unit_id: int) -> set[str]:
    """Types of the alerts about a unit that are not closed (a closed alert was explained away)."""
    query = select(Alert.type).where(Alert.unit_id == unit_id, Alert.status != "closed").distinct()
    return set(conn.execute(query).scalars())
