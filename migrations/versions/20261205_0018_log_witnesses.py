"""Witnesses of the log: each witness's standing and the cosignatures it returned (app/db/models/witnesses.py).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "log_witness",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("verifier_key", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cosigned_size", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("last_attempt_at", _TIME, nullable=True),
        sa.Column("last_cosigned_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_witness")),
        sa.UniqueConstraint("verifier_key", name=op.f("uq_log_witness_verifier_key")),
    )
    op.create_table(
        "log_cosignature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("witness_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.String(length=400), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"], ["log_checkpoint.id"], name=op.f("fk_log_cosignature_checkpoint_id_log_checkpoint")
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"], ["log_witness.id"], name=op.f("fk_log_cosignature_witness_id_log_witness")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_cosignature")),
        sa.UniqueConstraint("checkpoint_id", "witness_id", name=op.f("uq_log_cosignature_checkpoint_id_witness_id")),
    )
    op.create_index(op.f("ix_log_cosignature_witness_id"), "log_cosignature", ["witness_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_log_cosignature_witness_id"), table_name="log_cosignature")
    op.drop_table("log_cosignature")
    op.drop_table("log_witness")
