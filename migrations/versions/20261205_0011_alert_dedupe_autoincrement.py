"""One open alert per code and kind, counting its repeats; published ids never reused on SQLite.

Alerts: a repeat of an alert (same type, gtin and serial) while one is open (any status but ``closed``) counts on
that alert (``count``, ``last_at``) instead of adding a row. The partial unique index
``uq_alert_type_gtin_serial_open`` makes it hold under concurrency (raising is an INSERT ... ON CONFLICT DO
UPDATE, app/db/alerts.py). Before the index is built, the open duplicates already stored are merged into the
oldest of each group (counts summed, the latest occurrence kept, the merged ids listed in its details), and the
scan alerts' count and last sighting move from their details into the new columns.

Ids: on SQLite the tables whose ids are published (batch, issuance, event, recall, alert, webhook_endpoint,
webhook_delivery) become AUTOINCREMENT, so a deleted row's id is never handed out again. SQLite can only do that
by rebuilding each table (data, indexes and foreign keys kept); migrations run with foreign keys off for it
(migrations/env.py). PostgreSQL sequences already never go back: nothing to do there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PUBLISHED_ID_TABLES = ("batch", "issuance", "event", "recall", "alert", "webhook_endpoint", "webhook_delivery")
OPEN = sa.text("status != 'closed'")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite stores naive UTC text (as app/db/types.py did at this revision)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


alert = sa.table(
    "alert",
    sa.column("id", sa.Integer()),
    sa.column("type", sa.String()),
    sa.column("gtin", sa.String()),
    sa.column("serial", sa.String()),
    sa.column("status", sa.String()),
    sa.column("root_cause", sa.String()),
    sa.column("details", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
    sa.column("count", sa.Integer()),
    sa.column("last_at", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch_op:
        batch_op.add_column(sa.Column("count", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("last_at", sa.DateTime(timezone=True), nullable=True))
    _merge_open_duplicates(op.get_bind())
    if op.get_bind().dialect.name == "sqlite":
        for table in PUBLISHED_ID_TABLES:
            _rebuild(table, autoincrement=True)
    op.create_index(
        "uq_alert_type_gtin_serial_open",
        "alert",
        ["type", "gtin", "serial"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("uq_alert_type_gtin_serial_open", table_name="alert")
    if op.get_bind().dialect.name == "sqlite":
        for table in PUBLISHED_ID_TABLES:
            _rebuild(table, autoincrement=False)
    _counts_back_into_details(op.get_bind())
    with op.batch_alter_table("alert") as batch_op:
        batch_op.drop_column("last_at")
        batch_op.drop_column("count")


def _seen_at(value: Any) -> datetime | None:
    try:
        seen = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return seen.replace(tzinfo=UTC) if seen is not None and seen.tzinfo is None else seen


def _merge_open_duplicates(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(
            alert.c.id,
            alert.c.type,
            alert.c.gtin,
            alert.c.serial,
            alert.c.status,
            alert.c.root_cause,
            alert.c.details,
            alert.c.created_at,
        ).order_by(alert.c.id)
    ).all()
    groups: dict[tuple[str, str, str | None], list[Any]] = defaultdict(list)
    for row in rows:
        details = dict(row.details or {})
        count = details.pop("count", 1)
        seen = _seen_at(details.pop("last_seen", None))
        values = {
            "details": details,
            "count": count if isinstance(count, int) and count >= 1 else 1,
            "last_at": max(seen, row.created_at) if seen is not None else row.created_at,
        }
        if row.status != "closed" and row.gtin is not None:
            groups[(row.type, row.gtin, row.serial)].append((row, values))
        else:
            conn.execute(alert.update().where(alert.c.id == row.id).values(**values))
    for members in groups.values():
        (first, values), rest = members[0], members[1:]
        if rest:
            statuses = {row.status for row, _ in members}
            values = {
                "details": {**values["details"], "merged_alert_ids": [row.id for row, _ in rest]},
                "count": sum(v["count"] for _, v in members),
                "last_at": max(v["last_at"] for _, v in members),
                "status": "investigating" if "investigating" in statuses else first.status,
                "root_cause": next((row.root_cause for row, _ in members if row.root_cause), None),
            }
            conn.execute(alert.delete().where(alert.c.id.in_([row.id for row, _ in rest])))
        conn.execute(alert.update().where(alert.c.id == first.id).values(**values))


def _counts_back_into_details(conn: sa.Connection) -> None:
    rows = conn.execute(sa.select(alert.c.id, alert.c.details, alert.c.count, alert.c.last_at)).all()
    for row in rows:
        if row.count > 1:
            details = {**(row.details or {}), "count": row.count, "last_seen": row.last_at.isoformat()}
            conn.execute(alert.update().where(alert.c.id == row.id).values(details=details))


def _rebuild(table: str, *, autoincrement: bool) -> None:
    """Rebuild an SQLite table with or without AUTOINCREMENT, keeping its rows, columns, constraints and indexes.

    Partial indexes are set aside and created again from their own SQL (batch mode would rebuild them whole)."""
    conn = op.get_bind()
    partial = conn.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :table AND sql LIKE '% WHERE %'"
        ),
        {"table": table},
    ).all()
    for name, _ in partial:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    for _, sql in partial:
        op.execute(sql)
