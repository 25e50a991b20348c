"""PostgreSQL: the event row's payload compressed by lz4, and the two indexes of a column a unit's row leaves NULL
made partial (issue 17, packing). SQLite: nothing changes.

An event's payload is the event as it was asked for, codes included: ~100 KB of JSON for a list of 1,000 codes.
PostgreSQL compresses a value that large before storing it out of line, by default with pglz: 3.7-5.4 ms of the
backend's CPU per 1,000-code payload, against 0.9-1.5 ms with lz4 (the same INSERT, alternated, on the service's
schema; docs/benchmarks.md, Custody, fifth pass). Only values written after the migration are compressed so; the
ones stored stay readable as they are. A server built without lz4 keeps pglz (the migration checks).

``ix_event_item_container_sscc`` and ``ix_containment_child_sscc`` held an entry for every row, NULL included,
and every unit's event item and containment row has its container column NULL (it names the unit): each packed
or moved unit paid an index entry no query reads. Every query of either column names a container
(``= :sscc``, ``IN``, ``= ANY``, a join on it, the referenced side's triggers of 0027), which implies the
predicate, so each keeps its index. Built CONCURRENTLY beside the old one, which is then dropped, as 0025's custody
index. SQLite keeps its full indexes (a NULL entry costs it little, and its planner proves the predicate only from
some query shapes).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# (index, table, column)
PARTIAL = (
    ("ix_event_item_container_sscc", "event_item", "container_sscc"),
    ("ix_containment_child_sscc", "containment", "child_sscc"),
)

_LZ4_BUILT = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
# A column's own compression exists from PostgreSQL 14 (the setting with it): before, there is nothing to undo.
_COMPRESSION_SETTABLE = "SELECT true FROM pg_settings WHERE name = 'default_toast_compression'"


def _swap(index: str, table: str, column: str, where: str) -> None:
    new = f"{index}_new"
    op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {new}")  # left invalid by an interrupted run
    op.execute(f"CREATE INDEX CONCURRENTLY {new} ON {table} ({column}){where}")
    op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index}")
    op.execute(f"ALTER INDEX {new} RENAME TO {index}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    if op.get_bind().exec_driver_sql(_LZ4_BUILT).scalar():
        op.execute("ALTER TABLE event ALTER COLUMN payload SET COMPRESSION lz4")
    with op.get_context().autocommit_block():
        for index, table, column in PARTIAL:
            _swap(index, table, column, f" WHERE {column} IS NOT NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    if op.get_bind().exec_driver_sql(_COMPRESSION_SETTABLE).scalar():
        op.execute("ALTER TABLE event ALTER COLUMN payload SET COMPRESSION DEFAULT")
    with op.get_context().autocommit_block():
        for index, table, column in PARTIAL:
            _swap(index, table, column, "")
