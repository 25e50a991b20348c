"""Durable capture jobs: the process working a job and its last sign of life.

An EPCIS capture job records which process works it (``worker``: host, process id and the process's start time)
and when that process last said it was alive (``heartbeat_at``, kept on PostgreSQL). A job whose worker is gone
is marked interrupted with what it committed, instead of saying ``running`` forever (see docs/background-work.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("epcis_capture") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_epcis_capture_running_worker", "epcis_capture", ["running", "worker"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_epcis_capture_running_worker", table_name="epcis_capture")
    with op.batch_alter_table("epcis_capture") as batch:
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
