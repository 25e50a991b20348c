"""Insurance settlement of a sale or dispensing (NHSA): loads a unit's settlements, decides through
app/domain/settlement.py, and writes the new one; an undone sale takes its settlements with it."""

from __future__ import annotations

from sqlalchemy import delete, select

from app.db.models import Settlement
from app.domain.settlement import Settled, SettlementIn, next_part
from app.services.custody.recorder import Occurrence, Recorder


def settle(rec: Recorder, occ: Occurrence, unit_id: int, settlement: SettlementIn, *, split_open: bool) -> None:
    rows = rec.session.scalars(select(Settlement).where(Settlement.unit_id == unit_id)).all()
    earlier = [Settled(r.part, r.org_id, r.settled_at, r.region, r.ref) for r in rows]
    part = next_part(earlier, split_open=split_open, actor=rec.actor)
    rec.session.add(
        Settlement(
            unit_id=unit_id,
            part=part,
            scheme=settlement.scheme,
            ref=settlement.ref,
            event_id=occ.event.id,
            org_id=rec.actor,
            region=occ.event.region,
            settled_at=occ.at,
        )
    )
    rec.session.flush()


def unsettle(rec: Recorder, event_id: int) -> None:
    """An undone sale or dispensing is no longer settled (the undo rules decided it may be taken back)."""
    rec.session.execute(delete(Settlement).where(Settlement.event_id == event_id))
