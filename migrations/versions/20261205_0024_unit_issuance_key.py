"""One foreign key (issuance_id, batch_id) -> issuance (id, batch_id) on ``unit`` in place of two (issue 17).

A unit's ``batch_id`` and ``issuance_id`` were two keys, to ``batch`` and to ``issuance``. PostgreSQL checks a
foreign key with one query per inserted row, and issuance inserts a million rows at a time: the two checks were
about a third of the database's work per issued code (docs/benchmarks.md, Issuance). One composite key does one
check and says more: the unit's issuance exists *and* is of the unit's batch (the batch exists through the
issuance's own key). ``issuance (id, batch_id)`` gets the unique constraint the key needs (trivially true: ``id``
is the primary key).

PostgreSQL: the key is added NOT VALID (from then on it checks every new row), the changes so far are committed,
and the existing rows are validated in a transaction of their own, which takes only a SHARE UPDATE EXCLUSIVE lock
on ``unit``: reads and writes go on during the scan. (Inside the migration's transaction, the ACCESS EXCLUSIVE
lock of dropping the old keys would be held through the whole scan.) SQLite: no ALTER of constraints, so ``unit`` and ``issuance`` are rebuilt (batch
mode, foreign keys are off during migrations), partial indexes set aside and created again from their own SQL.
Both refuse to run when a stored unit's batch is not its issuance's batch (nothing the service writes does that).

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

UQ = "uq_issuance_id_batch_id"
COMPOSITE = "fk_unit_issuance_id_issuance"  # the naming convention's name (first column issuance_id)
BATCH = "fk_unit_batch_id_batch"
ISSUANCE = "fk_unit_issuance_id_issuance"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _check_units_match_their_issuance() -> None:
    found = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT u.id FROM unit u JOIN issuance i ON i.id = u.issuance_id WHERE i.batch_id <> u.batch_id LIMIT 1"
            )
        )
        .first()
    )
    if found is not None:
        raise RuntimeError(f"unit {found[0]} has another batch than its issuance: fix it before this migration")


# issuance.event_id's key was added with its column (ALTER TABLE ADD COLUMN), which SQLite keeps inline and
# SQLAlchemy reflects without its name: the rebuild is told the column as it was, name included.
def _issuance_event() -> sa.Column:
    return sa.Column("event_id", sa.Integer, sa.ForeignKey("event.id", name="fk_issuance_event_id_event"))


def _rebuild(table: str, change, reflect_args=(), **table_kwargs) -> None:  # type: ignore[no-untyped-def]
    """Rebuild an SQLite table through batch mode, its partial indexes set aside and created again as they were."""
    conn = op.get_bind()
    partial = conn.execute(
        sa.text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :table AND sql LIKE '% WHERE %'"
        ),
        {"table": table},
    ).all()
    for name, _ in partial:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table(
        table, recreate="always", reflect_args=list(reflect_args), table_kwargs=table_kwargs
    ) as batch:
        change(batch)
    for _, sql in partial:
        op.execute(sql)


def upgrade() -> None:
    _check_units_match_their_issuance()
    if _sqlite():
        _rebuild(
            "issuance",
            lambda batch: batch.create_unique_constraint(UQ, ["id", "batch_id"]),
            reflect_args=[_issuance_event()],
            sqlite_autoincrement=True,
        )

        def unit(batch) -> None:  # type: ignore[no-untyped-def]
            batch.drop_constraint(BATCH, type_="foreignkey")
            batch.drop_constraint(ISSUANCE, type_="foreignkey")
            batch.create_foreign_key(COMPOSITE, "issuance", ["issuance_id", "batch_id"], ["id", "batch_id"])

        _rebuild("unit", unit)
        return
    op.create_unique_constraint(UQ, "issuance", ["id", "batch_id"])
    op.drop_constraint(BATCH, "unit", type_="foreignkey")
    op.drop_constraint(ISSUANCE, "unit", type_="foreignkey")
    op.execute(
        f"ALTER TABLE unit ADD CONSTRAINT {COMPOSITE} FOREIGN KEY (issuance_id, batch_id) "
        "REFERENCES issuance (id, batch_id) NOT VALID"
    )
    with op.get_context().autocommit_block():
        op.execute(f"ALTER TABLE unit VALIDATE CONSTRAINT {COMPOSITE}")


def downgrade() -> None:
    if _sqlite():

        def unit(batch) -> None:  # type: ignore[no-untyped-def]
            batch.drop_constraint(COMPOSITE, type_="foreignkey")
            batch.create_foreign_key(BATCH, "batch", ["batch_id"], ["id"])
            batch.create_foreign_key(ISSUANCE, "issuance", ["issuance_id"], ["id"])

        _rebuild("unit", unit)
        _rebuild(
            "issuance",
            lambda batch: batch.drop_constraint(UQ, type_="unique"),
            reflect_args=[_issuance_event()],
            sqlite_autoincrement=True,
        )
        return
    op.drop_constraint(COMPOSITE, "unit", type_="foreignkey")
    op.create_foreign_key(BATCH, "unit", "batch", ["batch_id"], ["id"])
    op.create_foreign_key(ISSUANCE, "unit", "issuance", ["issuance_id"], ["id"])
    op.drop_constraint(UQ, "issuance", type_="unique")
