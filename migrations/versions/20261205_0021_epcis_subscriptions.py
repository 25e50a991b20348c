"""EPCIS query subscriptions (issue 18): ``POST /epcis/queries/{name}/subscriptions`` keeps a stream or a
schedule per organisation (``epcis_subscription``), pushed through the webhook outbox: a delivery now goes to an
organisation's endpoint or to a subscription's own destination, exactly one of them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "epcis_subscription",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("query_name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("dest", sa.String(length=2000), nullable=False),
        sa.Column("sealed_token", sa.LargeBinary(length=600), nullable=True),
        sa.Column("schedule", sa.JSON(), nullable=True),
        sa.Column("report_if_empty", sa.Boolean(), nullable=False),
        sa.Column("initial_record_time", _TIME, nullable=False),
        sa.Column("cursor_time", _TIME, nullable=True),
        sa.Column("cursor_source", sa.Integer(), nullable=True),
        sa.Column("cursor_row", sa.BigInteger(), nullable=True),
        sa.Column("next_run_at", _TIME, nullable=True),
        sa.Column("last_run_at", _TIME, nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_epcis_subscription_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_subscription")),
        sa.UniqueConstraint("subscription_id", name=op.f("uq_epcis_subscription_subscription_id")),
    )
    op.create_index("ix_epcis_subscription_org_id_query_name", "epcis_subscription", ["org_id", "query_name"])
    # SQLite rebuilds the table: keep its AUTOINCREMENT (delivery ids are never reused, migration 0011)
    with op.batch_alter_table("webhook_delivery", table_kwargs=_AUTOINCREMENT) as batch:
        batch.alter_column("endpoint_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("subscription_id", _BIG, nullable=True))
        batch.create_foreign_key(
            op.f("fk_webhook_delivery_subscription_id_epcis_subscription"),
            "epcis_subscription",
            ["subscription_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_webhook_delivery_subscription_id"), ["subscription_id"])
        batch.create_check_constraint(
            op.f("ck_webhook_delivery_one_destination"), "(endpoint_id IS NULL) <> (subscription_id IS NULL)"
        )


def downgrade() -> None:
    op.execute("DELETE FROM webhook_delivery WHERE subscription_id IS NOT NULL")
    with op.batch_alter_table("webhook_delivery", table_kwargs=_AUTOINCREMENT) as batch:
        batch.drop_constraint(op.f("ck_webhook_delivery_one_destination"), type_="check")
        batch.drop_index(op.f("ix_webhook_delivery_subscription_id"))
        batch.drop_constraint(op.f("fk_webhook_delivery_subscription_id_epcis_subscription"), type_="foreignkey")
        batch.drop_column("subscription_id")
        batch.alter_column("endpoint_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index("ix_epcis_subscription_org_id_query_name", table_name="epcis_subscription")
    op.drop_table("epcis_subscription")
