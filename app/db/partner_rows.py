"""Writing kept partner answers (``partner_verification``) a group at a time, and the oracle guard's count.

Used by the keeper's writer thread (app/services/partner_keeper.py) inside one transaction per group: SQLite's is
``BEGIN IMMEDIATE`` (writers queue for the one lock), PostgreSQL's takes a transaction-scoped advisory lock per
requester it counts for, so two serving processes cannot both let the hundred-and-first request of an hour through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text

from app.db.models import PartnerVerification

_TABLE: Any = PartnerVerification.__table__
_LOCK_SPACE = 16_016  # advisory locks of the oracle guard: (this number, a hash of the requester)


def insert_answers(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert kept answers (dicts of ``partner_verification`` columns), in order, with one executemany."""
    if rows:
        conn.execute(insert(_TABLE), list(rows))


def lock_requester(conn: Connection, requester_id: str) -> None:
    """Serialise the oracle guard's count and insert for one requester until this transaction ends (PostgreSQL;
    SQLite's writer lock already serialises every writer)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:requester))"),
            {"space": _LOCK_SPACE, "requester": requester_id},
        )


def unheld_since(conn: Connection, requester_id: str, since: datetime) -> int:
    """Kept answers about units the requester never held, asked after ``since``."""
    return (
        conn.scalar(
            select(func.count())
            .select_from(PartnerVerification)
            .where(
                PartnerVerification.requester_id == requester_id,
                PartnerVerification.held.is_(False),
                PartnerVerification.requested_at > since,
            )
        )
        or 0
    )
