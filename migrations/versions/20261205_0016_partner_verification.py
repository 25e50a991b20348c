"""Verifications between trading partners: every request and its signed answer (app/db/models/partners.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partner_verification",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("requester_id", sa.String(length=32), nullable=False),
        sa.Column("manufacturer_id", sa.String(length=32), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("serial", sa.String(length=20), nullable=True),
        sa.Column("unit_id", _BIG, nullable=True),
        sa.Column("context", sa.String(length=40), nullable=False),
        sa.Column("correlation_uuid", sa.String(length=36), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["organisation.id"], name=op.f("fk_partner_verification_requester_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["manufacturer_id"], ["organisation.id"], name=op.f("fk_partner_verification_manufacturer_id_organisation")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_partner_verification_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_verification")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_partner_verification_manufacturer_id"), "partner_verification", ["manufacturer_id"], unique=False
    )
    op.create_index(
        "ix_partner_verification_gtin_requested_at", "partner_verification", ["gtin", "requested_at"], unique=False
    )
    op.create_index(
        "ix_partner_verification_requester_id_held_requested_at",
        "partner_verification",
        ["requester_id", "held", "requested_at"],
        unique=False,
    )
    op.create_index(
        "ix_partner_verification_unit_id_requester_id",
        "partner_verification",
        ["unit_id", "requester_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("partner_verification")
