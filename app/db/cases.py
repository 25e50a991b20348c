"""Case queries the other features read: is a unit under investigation, and the case leaves of the log."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, exists, select

from app.db.models import CaseChange, CaseSubject

_CHUNK = 500


def units_under_investigation(conn: Connection, units: Iterable[tuple[int, int]]) -> set[int]:
    """Of ``units`` (unit id, batch id), those an active case names, or names the lot of (the same test as
    verification's lookup), for a whole event's units: one query for their lots and one per 500 units."""
    wanted = list(units)
    if not wanted:
        return set()
    active = CaseSubject.active.is_(True)
    lots = set(
        conn.scalars(select(CaseSubject.batch_id).where(active, CaseSubject.batch_id.in_({b for _, b in wanted})))
    )
    named: set[int] = set()
    ids = [unit_id for unit_id, _ in wanted]
    for start in range(0, len(ids), _CHUNK):
        named.update(
            conn.scalars(
                select(CaseSubject.unit_id).where(active, CaseSubject.unit_id.in_(ids[start : start + _CHUNK]))
            )
        )
    return {unit_id for unit_id, batch_id in wanted if unit_id in named or batch_id in lots}


def lot_under_investigation(conn: Connection, batch_id: int) -> bool:
    """An active case names the lot itself (a case naming some of its units does not make the whole lot suspect)."""
    named = select(CaseSubject.id).where(CaseSubject.active.is_(True), CaseSubject.batch_id == batch_id)
    return bool(conn.scalar(select(exists(named))))


def case_leaves(conn: Connection, start: int, end: int) -> dict[int, tuple[bytes, frozenset[str]]]:
    """The case changes at log positions [start, end): their exact leaf bytes and who reads them whole
    (besides auditors): the case's opener, the product's manufacturer and the organisation that made the change."""
    rows = conn.execute(
        select(CaseChange.log_index, CaseChange.leaf, CaseChange.readers).where(
            CaseChange.log_index >= start, CaseChange.log_index < end
        )
    )
    return {int(index): (bytes(leaf), frozenset(readers)) for index, leaf, readers in rows}
