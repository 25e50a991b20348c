"""Custody queries: load (and on PostgreSQL lock) the units and containers an event names, walk containers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    any_,
    exists,
    insert,
    literal,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db.models import Container, Containment, Event, EventItem, Issuance, Unit
from app.db.pairs import pairs_in

_CHUNK = 500
_SET_CHUNK = 5_000  # below SQLite's 32,766 bound parameters


def load_units(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Unit]:
    """Units by (gtin, serial), locked FOR UPDATE in ascending id order across the whole set (PostgreSQL;
    SQLite serialises writers), so any two requests take their unit locks in the same order."""
    wanted = sorted(set(keys))
    if session.get_bind().dialect.name != "postgresql":  # no row locks to order: read the rows in one pass
        found: dict[tuple[str, str], Unit] = {}
        for start in range(0, len(wanted), _CHUNK):
            rows = session.scalars(select(Unit).where(pairs_in(Unit.gtin, Unit.serial, wanted[start : start + _CHUNK])))
            found.update({(u.gtin, u.serial): u for u in rows})
        return found
    ids: list[int] = []
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        ids.extend(session.scalars(select(Unit.id).where(pairs_in(Unit.gtin, Unit.serial, chunk))))
    ids.sort()
    found = {}
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


def set_custody(conn: Connection, ids: list[int], values: dict[str, Any]) -> None:
    """The same custody columns on many unit rows (ids ascending, already locked): one statement per 5,000
    rows, an array on PostgreSQL, a list of ids on SQLite."""
    _set_units(conn, ids, values)


def set_container(conn: Connection, ids: list[int], sscc: str) -> None:
    """Many loose unit rows (locked) go into one container."""
    _set_units(conn, ids, {"container_sscc": sscc})


def _set_units(conn: Connection, ids: list[int], values: dict[str, Any]) -> None:
    pg = conn.dialect.name == "postgresql"
    for start in range(0, len(ids), _SET_CHUNK):
        chunk = ids[start : start + _SET_CHUNK]
        where = Unit.id == any_(literal(chunk, ARRAY(BigInteger))) if pg else Unit.id.in_(chunk)
        conn.execute(update(Unit).where(where).values(values).execution_options(synchronize_session=False))


def close_containment(session: Session, *, event_id: int, unit_id: int | None = None, sscc: str | None = None) -> None:
    query = update(Containment).where(Containment.unpacked_event_id.is_(None))
    query = (
        query.where(Containment.unit_id == unit_id)
        if unit_id is not None
        else query.where(Containment.child_sscc == sscc)
    )
    session.execute(query.values(unpacked_event_id=event_id))


def in_import_package(unit: Any = Unit) -> ColumnElement[bool]:
    """The unit is still in the package an import of codes put it in: it has a container and no open containment
    row. An import writes no containment row for its units (a million of them would cost as much as the units),
    so such a unit's interval is (its ``container_sscc``, the import's event, open); the row is written, closed,
    when the unit leaves (``close_import_containment``). Every reader of a unit's intervals adds this one. No event
    before the import can name the package (its container was made by the import), so a reader may take the
    interval's start as 0."""
    open_row = exists().where(Containment.unit_id == unit.id, Containment.unpacked_event_id.is_(None))
    return and_(unit.container_sscc.is_not(None), ~open_row)


def close_import_containment(session: Session, *, event_id: int, sscc: str, unit_id: int | None = None) -> None:
    """The containment rows of the units an import put in ``sscc`` that leave it at ``event_id`` (all of them,
    or the one ``unit_id``), written closed: from the import's event to this one."""
    units = select(Unit.id, null(), Unit.container_sscc, Issuance.event_id, literal(event_id), Unit.batch_id).join(
        Issuance, Issuance.id == Unit.issuance_id
    )
    units = units.where(Unit.container_sscc == sscc, Issuance.event_id.is_not(None), in_import_package())
    if unit_id is not None:
        units = units.where(Unit.id == unit_id)
    columns = ["unit_id", "child_sscc", "parent_sscc", "packed_event_id", "unpacked_event_id", "batch_id"]
    session.execute(insert(Containment).from_select(columns, units))


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
