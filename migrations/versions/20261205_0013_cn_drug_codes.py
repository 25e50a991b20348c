"""China's drug traceability codes: a product's 7-digit 药品标识码 and the settlements of units with insurance.

``product.cn_drug_id`` (unique: one 药品标识码 names one product, whoever made it) lets a 20-digit code name a unit of
that product; the unit's serial is the whole code (app/domain/cn_code.py). ``settlement`` holds one row per
insurance settlement of a unit (NHSA: a code is settled once; a split pack once per part, ``part`` 1, 2, ...; a whole
pack is part 0): the unique (unit_id, part) makes two tills settling one code at once end with one settlement.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("product") as batch:
        batch.add_column(sa.Column("cn_drug_id", sa.String(7), nullable=True))
        batch.create_unique_constraint("uq_product_cn_drug_id", ["cn_drug_id"])
    op.create_table(
        "settlement",
        sa.Column("id", _BIG, primary_key=True),
        sa.Column("unit_id", _BIG, sa.ForeignKey("unit.id"), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(100), nullable=False),
        sa.Column("event_id", _BIG, sa.ForeignKey("event.id"), nullable=False, index=True),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("region", sa.String(10), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("unit_id", "part", name="uq_settlement_unit_id_part"),
    )


def downgrade() -> None:
    op.drop_table("settlement")
    with op.batch_alter_table("product") as batch:
        batch.drop_constraint("uq_product_cn_drug_id", type_="unique")
        batch.drop_column("cn_drug_id")
