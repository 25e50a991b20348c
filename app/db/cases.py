"""Case queries the other features read: is a unit under investigation, and the case leaves of the log."""

from __future__ import annotations

from sqlalchemy import Connection, exists, or_, select

from app.db.models import CaseChange, CaseSubject


def under_investigation(conn: Connection, unit_id: int, batch_id: int) -> bool:
    """An active case names the unit or its lot (the same test as verification's lookup)."""
    named = select(CaseSubject.id).where(
        CaseSubject.active.is_(True), or_(CaseSubject.unit_id == unit_id, CaseSubject.batch_id == batch_id)
    )
    return bool(conn.scalar(select(exists(named))))


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
