"""Undo: take back a recent sale, dispensing, export or lock by restoring each item's logged ``before``.

Whether an event may be undone, and whether each item still stands where the event left it, are the rules of
app/domain/event_rules.py; this module loads what they judge and writes the restored records, counters and the
undo event itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from app.db.models import Container, Event, EventItem, Prescription, Unit
from app.domain.custody import SALE_ACTIONS, Action, Custody
from app.domain.errors import InvalidInput, NotFound
from app.domain.event_rules import EventIn, UndoTarget, check_restorable, check_undo
from app.services.custody.containers import detach, lots
from app.services.custody.recorder import Recorder
from app.services.custody.settlement import unsettle
from app.services.custody.subjects import Subject, counter_key, store


def undo(rec: Recorder, ev: EventIn, occurred_at: datetime) -> Event:
    """The undo event, written (not yet logged)."""
    if ev.event_id is None:
        raise InvalidInput("undo needs 'event_id'", code="event_id_required")
    target = rec.session.get(Event, ev.event_id)
    if target is None:
        raise NotFound(f"no event {ev.event_id}", code="event_not_found")
    facts = UndoTarget(
        target.id, target.org_id, target.action, target.recorded_at, undone=target.undone_by_event_id is not None
    )
    check_undo(facts, rec.actor, rec.policy)
    items = rec.session.scalars(select(EventItem).where(EventItem.event_id == target.id).order_by(EventItem.id))
    event = rec.event_row(Action.UNDO, ev, occurred_at)
    for item in list(items):
        unit = (
            rec.session.scalar(select(Unit).where(Unit.id == item.unit_id).with_for_update()) if item.unit_id else None
        )
        container = rec.session.get(Container, item.container_sscc) if item.container_sscc else None
        subject = Subject(unit.serial if unit else str(item.container_sscc), unit=unit, container=container)
        current = rec.custody(subject)
        expires_on = rec.batch(unit.batch_id).expires_on if unit is not None else None
        logged_after = Custody.from_json(item.after)
        check_restorable(subject.text, target.id, current, logged_after, expires_on, occurred_at.date())
        restored = Custody.from_json(item.before)
        detach(rec, subject, event.id)
        store(subject.row, restored)
        rec.tally.move(lots(rec, subject), counter_key(current), counter_key(restored))
        if unit is not None and Action(target.action) in SALE_ACTIONS:
            rec.sales.append((unit, target, -1))
        rec.add_item(event, unit, item.container_sscc, item.after, item.before)
    unsettle(rec, target.id)
    target.undone_by_event_id = event.id
    event.undoes_event_id = target.id
    if target.prescription_id:
        prescription = rec.session.get(Prescription, target.prescription_id)
        if prescription is not None:
            rec.session.delete(prescription)
    return event
