"""Log sequencing without a hot row (issue 17): ``log_pending`` holds leaves committed with their events and not
yet given an index; the sequencer integrates them in batches (app/services/log.py, docs/log.md), and adds the
lot counters' ``lot_delta`` rows that events write instead of updating a lot's counter rows (app/db/lot_counters.py).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "log_pending",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("event_id", _BIG, nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_log_pending_event_id_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_pending")),
        sa.UniqueConstraint("event_id", name=op.f("uq_log_pending_event_id")),
    )
    op.create_table(
        "lot_delta",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("a", sa.String(length=32), nullable=False),
        sa.Column("b", sa.String(length=32), nullable=False),
        sa.Column("c", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lot_delta")),
    )


def downgrade() -> None:
    # Rows here are events without their leaf yet, or counter changes not merged: dropping them would lose both.
    bind = op.get_bind()
    count = sa.select(sa.func.count())
    waiting = {t: bind.execute(count.select_from(sa.table(t))).scalar_one() for t in ("log_pending", "lot_delta")}
    if any(waiting.values()):
        raise RuntimeError(
            f"cannot downgrade past 0023 while the log has work waiting ({waiting}): run `passport log checkpoint`"
            " (it integrates pending leaves and merges the counters' changes) with no service writing, then retry"
        )
    op.drop_table("lot_delta")
    op.drop_table("log_pending")
