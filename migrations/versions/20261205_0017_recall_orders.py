"""Recall relay to online buyers: the orders relayed to each platform, their units and acknowledgements
(app/db/models/recalls.py, app/services/recall_relay.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recall_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recall_id", sa.Integer(), nullable=False),
        sa.Column("platform_id", sa.String(length=32), nullable=False),
        sa.Column("order_ref", sa.String(length=100), nullable=False),
        sa.Column("seller_id", sa.String(length=32), nullable=False),
        sa.Column("sold_at", _TIME, nullable=False),
        sa.Column("notified_at", _TIME, nullable=False),
        sa.Column("relayed_at", _TIME, nullable=False),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("delivery_id", _BIG, nullable=True),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"], name=op.f("fk_recall_order_recall_id_recall")),
        sa.ForeignKeyConstraint(
            ["platform_id"], ["organisation.id"], name=op.f("fk_recall_order_platform_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"], ["organisation.id"], name=op.f("fk_recall_order_seller_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["webhook_delivery.id"], name=op.f("fk_recall_order_delivery_id_webhook_delivery")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recall_order")),
        sa.UniqueConstraint(
            "recall_id", "platform_id", "order_ref", name=op.f("uq_recall_order_recall_id_platform_id_order_ref")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_recall_order_platform_id"), "recall_order", ["platform_id"])
    op.create_table(
        "recall_order_unit",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("recall_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", _BIG, nullable=False),
        sa.ForeignKeyConstraint(["recall_id"], ["recall.id"], name=op.f("fk_recall_order_unit_recall_id_recall")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["recall_order.id"], name=op.f("fk_recall_order_unit_order_id_recall_order")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_recall_order_unit_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recall_order_unit")),
        sa.UniqueConstraint("recall_id", "unit_id", name=op.f("uq_recall_order_unit_recall_id_unit_id")),
    )
    op.create_index(op.f("ix_recall_order_unit_order_id"), "recall_order_unit", ["order_id"])


def downgrade() -> None:
    op.drop_table("recall_order_unit")
    op.drop_table("recall_order")
