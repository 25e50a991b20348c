"""Custody queries: load (and on PostgreSQL lock) the units and containers an event names, walk containers."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.models import Container, Containment, Event, EventItem, Unit
from app.db.pairs import pairs_in

_CHUNK = 500


def load_units(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Unit]:
    """Units by (gtin, serial), locked FOR UPDATE in ascending id order across the whole set (PostgreSQL;
    SQLite serialises writers), so any two requests take their unit locks in the same order."""
    wanted = sorted(set(keys))
    ids: list[int] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        ids.extend(session.scalars(select(Unit.id).where(pairs_in(Unit.gtin, Unit.serial, chunk))))
    ids.sort()
    found: dict[tuple[str, str], Unit] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.scalars(
            select(Unit).where(Unit.id.in_(ids[start : start + _CHUNK])).order_by(Unit.id).with_for_update()
        )
        found.update({(u.gtin, u.serial): u for u in rows})
    return found


def lock_everything(
    session: Session, unit_keys: Iterable[tuple[str, str]], ssccs: Iterable[str]
) -> dict[tuple[str, str], Unit]:
    """Lock, up front and in one global order (units by id, then containers by SSCC), every row a request may
    change: the units named, the units directly inside containers named, and every container around any of
    them or named. Later row locks in the request are then already held, so two requests cannot deadlock."""
    named = set(ssccs)
    inside = session.scalars(select(Unit.id).where(Unit.container_sscc.in_(sorted(named)))).all() if named else []
    units = load_units(session, unit_keys)
    if inside:
        session.scalars(select(Unit.id).where(Unit.id.in_(sorted(inside))).order_by(Unit.id).with_for_update()).all()
    containers = named | {u.container_sscc for u in units.values() if u.container_sscc}
    if named:
        containers |= set(session.scalars(select(Container.sscc).where(Container.parent_sscc.in_(sorted(named)))))
    frontier = set(containers)
    while frontier:
        parents = set(
            session.scalars(
                select(Container.parent_sscc).where(
                    Container.sscc.in_(sorted(frontier)), Container.parent_sscc.is_not(None)
                )
            )
        )
        frontier = parents - containers
        containers |= parents
    load_containers(session, containers)
    return units


def load_containers(session: Session, ssccs: Iterable[str]) -> dict[str, Container]:
    wanted = sorted(set(ssccs))
    if not wanted:
        return {}
    rows = session.scalars(
        select(Container).where(Container.sscc.in_(wanted)).order_by(Container.sscc).with_for_update()
    )
    return {c.sscc: c for c in rows}


def container_chain(session: Session, sscc: str) -> list[Container]:
    """The container and its parents, innermost first (locked)."""
    chain: list[Container] = []
    current: str | None = sscc
    while current is not None:
        container = session.scalar(select(Container).where(Container.sscc == current).with_for_update())
        if container is None or container in chain:
            break
        chain.append(container)
        current = container.parent_sscc
    return chain


def close_containment(session: Session, *, event_id: int, unit_id: int | None = None, sscc: str | None = None) -> None:
    query = update(Containment).where(Containment.unpacked_event_id.is_(None))
    query = (
        query.where(Containment.unit_id == unit_id)
        if unit_id is not None
        else query.where(Containment.child_sscc == sscc)
    )
    session.execute(query.values(unpacked_event_id=event_id))


def latest_item(
    session: Session, *, unit_id: int | None = None, sscc: str | None = None
) -> tuple[EventItem, Event] | None:
    query = select(EventItem, Event).join(Event, Event.id == EventItem.event_id)
    query = (
        query.where(EventItem.unit_id == unit_id)
        if unit_id is not None
        else query.where(EventItem.container_sscc == sscc)
    )
    row = session.execute(query.order_by(EventItem.id.desc()).limit(1)).one_or_none()
    return (row[0], row[1]) if row else None


def last_sale(session: Session, unit_id: int) -> Event | None:
    return session.scalar(
        select(Event)
        .join(EventItem, EventItem.event_id == Event.id)
        .where(
            EventItem.unit_id == unit_id,
            Event.action.in_(("sell", "dispense")),
            Event.undone_by_event_id.is_(None),
        )
        .order_by(Event.id.desc())
        .limit(1)
    )
