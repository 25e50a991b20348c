"""Writing kept partner answers (``partner_verification``) a group at a time, and the oracle guard's count.

Used by the keeper's writer thread (app/services/partner_keeper.py) inside one transaction per group: SQLite's is
``BEGIN IMMEDIATE`` (writers queue for the one lock), PostgreSQL's takes a transaction-scoped advisory lock per
requester it counts for, so two serving processes cannot both let the hundred-and-first request of an hour through.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from app.db.bulk import copy_rows
from app.db.models import PartnerVerification

_TABLE: Any = PartnerVerification.__table__
_LOCK_SPACE = 16_016  # advisory locks of the oracle guard: (this number, a hash of the requester)


ANSWER_COLUMNS = (
    "requester_id",
    "manufacturer_id",
    "gtin",
    "serial",
    "unit_id",
    "context",
    "correlation_uuid",
    "verified",
    "held",
    "request",
    "answer",
    "requested_at",
)
_REQUEST, _ANSWER, _AT = (ANSWER_COLUMNS.index(name) for name in ("request", "answer", "requested_at"))


def insert_answers(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert kept answers (values in ``ANSWER_COLUMNS`` order; ``request`` a dict, ``answer`` JSON text, kept as
    sent; ``requested_at`` an aware UTC datetime), in order, with one statement (COPY on PostgreSQL; below
    SQLAlchemy's per-row parameter processing, which cost more than the insert itself)."""
    if not rows:
        return
    stored = _stored_at(conn)
    copy_rows(
        conn,
        "partner_verification",
        ANSWER_COLUMNS,
        [(*row[:_REQUEST], json.dumps(row[_REQUEST]), row[_ANSWER], stored(row[_AT]), *row[_AT + 1 :]) for row in rows],
    )


def _stored_at(conn: Connection) -> Any:
    """How ``requested_at`` is stored: the column type's own conversion on SQLite (naive UTC text), as is elsewhere."""
    if conn.dialect.name != "sqlite":
        return lambda at: at
    return _TABLE.c.requested_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


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
