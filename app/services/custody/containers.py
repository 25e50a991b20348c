"""Packing and unpacking: what moves between containers, and the lot counters that follow.

A unit or container inside a container follows it: its effective custody is the outermost container's record.
Taking it out (``detach``) carries that record onto its own row. Packing and unpacking leave custody as the
table says (``same``); what they change is where things are.
"""

from __future__ import annotations

from sqlalchemy import select

from app.db import lot_counters
from app.db.custody import close_containment, close_import_containment, container_chain
from app.db.models import Container, Containment, Unit
from app.domain.custody import Action, Custody, Refused, Status, apply
from app.domain.errors import InvalidInput
from app.domain.identifiers import ContainerCode, parse_code
from app.services.custody.recorder import Occurrence, Recorder
from app.services.custody.subjects import Subject, counter_key, custody_of, store


def lots(rec: Recorder, subject: Subject) -> dict[int, int]:
    """Units of each lot the subject stands for: a unit its own (with the units decided alike on the bulk lane,
    all of its lot), a container everything inside it."""
    if subject.unit is not None:
        return {subject.unit.batch_id: len(rec.units_alike(subject.unit))}
    assert subject.container is not None
    sscc = subject.container.sscc
    found = lot_counters.container_lots(rec.session.connection(), sscc)
    for batch_id, n in rec.tally.pending(sscc).items():
        found[batch_id] = found.get(batch_id, 0) + n
    return {batch_id: n for batch_id, n in found.items() if n}


def detach(rec: Recorder, subject: Subject, event_id: int) -> None:
    """Take a unit or container out of its container, carrying the container's custody with it."""
    if subject.parent is None:
        return
    chain = container_chain(rec.session, subject.parent)
    custody = custody_of(chain[-1], None)
    rec.tally.pack([c.sscc for c in chain], lots(rec, subject), -1)
    if subject.unit is not None:
        close_import_containment(rec.session, event_id=event_id, sscc=subject.parent, unit_id=subject.unit.id)
        close_containment(rec.session, event_id=event_id, unit_id=subject.unit.id)
        subject.unit.container_sscc = None
    else:
        assert subject.container is not None
        close_containment(rec.session, event_id=event_id, sscc=subject.container.sscc)
        subject.container.parent_sscc = None
    store(subject.row, custody)


def pack(rec: Recorder, occ: Occurrence, subject: Subject, before: Custody) -> Custody:
    """Into the container ``occ.ev.container`` (created, held by the packer, if new): the container must be one
    its holder may pack into, and never inside what it would hold."""
    code = parse_code(occ.ev.container or "")
    if not isinstance(code, ContainerCode):
        raise InvalidInput("'container' must be an SSCC: (00){sscc} or https://host/00/{sscc}", code="invalid_sscc")
    occ.event.container_sscc = code.sscc
    chain: list[Container]
    # The bulk lane packs only loose units: a chain already read in this event stays as it is.
    target = rec.chains[code.sscc][0] if rec.bulk and code.sscc in rec.chains else rec.session.get(Container, code.sscc)
    if target is None:
        target = Container(sscc=code.sscc, state=Status.HELD.value, holder_id=rec.actor, created_at=rec.policy.now)
        rec.session.add(target)
        rec.session.flush()
        chain = [target]
    elif rec.bulk and code.sscc in rec.chains:
        chain = rec.chains[code.sscc]
    else:
        chain = container_chain(rec.session, code.sscc)
        apply(custody_of(chain[-1], None), Action.PACK, rec.actor)
        if subject.container is not None and subject.container.sscc in {c.sscc for c in chain}:
            raise Refused(f"container {code.sscc} cannot go inside itself", code="container_cycle")
    rec.chains[code.sscc] = chain
    if subject.parent == code.sscc:
        raise Refused(f"{subject.text} is already in container {code.sscc}", code="already_packed")
    after = apply(before, Action.PACK, rec.actor)
    detach(rec, subject, occ.event.id)
    moved = lots(rec, subject)
    rec.tally.pack([c.sscc for c in chain], moved, 1)
    rec.tally.move(moved, counter_key(before), counter_key(custody_of(chain[-1], None)))  # the outermost one's
    if rec.bulk:
        assert subject.unit is not None
        rec.stage_packing(subject.unit, occ.event, code.sscc)
        return after
    if subject.unit is not None:
        subject.unit.container_sscc = code.sscc
    else:
        assert subject.container is not None
        subject.container.parent_sscc = code.sscc
    rec.session.add(
        Containment(
            unit_id=subject.unit.id if subject.unit is not None else None,
            child_sscc=subject.container.sscc if subject.container is not None else None,
            parent_sscc=code.sscc,
            packed_event_id=occ.event.id,
            batch_id=subject.unit.batch_id if subject.unit is not None else None,
        )
    )
    return after


def unpack(rec: Recorder, occ: Occurrence, subject: Subject, before: Custody) -> Custody:
    """Empty a container: what was directly inside keeps the container's custody, now on its own."""
    assert subject.container is not None  # the table's ``takes`` column
    after = apply(before, Action.UNPACK, rec.actor)
    detach(rec, subject, occ.event.id)
    sscc = subject.container.sscc
    rec.tally.empty(sscc, lots(rec, subject))
    close_import_containment(rec.session, event_id=occ.event.id, sscc=sscc)  # before the units leave it
    for unit in rec.session.scalars(select(Unit).where(Unit.container_sscc == sscc).with_for_update()):
        unit.container_sscc = None
        store(unit, before)
    for child in rec.session.scalars(select(Container).where(Container.parent_sscc == sscc).with_for_update()):
        child.parent_sscc = None
        store(child, before)
    rec.session.flush()
    open_links = select(Containment).where(Containment.parent_sscc == sscc, Containment.unpacked_event_id.is_(None))
    for link in rec.session.scalars(open_links):
        link.unpacked_event_id = occ.event.id
    return after
