"""Recall trace: a covering index of units by lot and custody; containment intervals by lot.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_unit_gtin_batch_id_state_custody",
        "unit",
        ["gtin", "batch_id", "state", "container_sscc", "holder_id", "to_id"],
        unique=False,
    )
    op.add_column("containment", sa.Column("batch_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE containment SET batch_id = (SELECT u.batch_id FROM unit u WHERE u.id = containment.unit_id) "
        "WHERE unit_id IS NOT NULL"
    )
    op.create_index(
        "ix_containment_batch_id_interval",
        "containment",
        ["batch_id", "parent_sscc", "packed_event_id", "unpacked_event_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_containment_batch_id_interval", table_name="containment")
    with op.batch_alter_table("containment", schema=None) as batch_op:
        batch_op.drop_column("batch_id")
    op.drop_index("ix_unit_gtin_batch_id_state_custody", table_name="unit")
