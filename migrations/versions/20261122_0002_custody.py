"""Custody: containers, events and what they touched, containment history, prescriptions, alerts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "container",
        sa.Column("sscc", sa.String(length=18), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.String(length=32), nullable=True),
        sa.Column("to_id", sa.String(length=32), nullable=True),
        sa.Column("previous", sa.String(length=20), nullable=True),
        sa.Column("parent_sscc", sa.String(length=18), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["holder_id"], ["organisation.id"], name=op.f("fk_container_holder_id_organisation")),
        sa.ForeignKeyConstraint(["parent_sscc"], ["container.sscc"], name=op.f("fk_container_parent_sscc_container")),
        sa.ForeignKeyConstraint(["to_id"], ["organisation.id"], name=op.f("fk_container_to_id_organisation")),
        sa.PrimaryKeyConstraint("sscc", name=op.f("pk_container")),
    )
    with op.batch_alter_table("container", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_container_parent_sscc"), ["parent_sscc"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("region", sa.String(length=10), nullable=True),
        sa.Column("to_id", sa.String(length=32), nullable=True),
        sa.Column("container_sscc", sa.String(length=18), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=True),
        sa.Column("platform_id", sa.String(length=32), nullable=True),
        sa.Column("order_ref", sa.String(length=100), nullable=True),
        sa.Column("prescription_id", sa.String(length=100), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("undoes_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("undone_by_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_event_org_id_organisation")),
        sa.ForeignKeyConstraint(["platform_id"], ["organisation.id"], name=op.f("fk_event_platform_id_organisation")),
        sa.ForeignKeyConstraint(["to_id"], ["organisation.id"], name=op.f("fk_event_to_id_organisation")),
        sa.ForeignKeyConstraint(["undoes_event_id"], ["event.id"], name=op.f("fk_event_undoes_event_id_event")),
        sa.ForeignKeyConstraint(["undone_by_event_id"], ["event.id"], name=op.f("fk_event_undone_by_event_id_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
        sa.UniqueConstraint("org_id", "idempotency_key", name=op.f("uq_event_org_id_idempotency_key")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_org_id"), ["org_id"], unique=False)

    op.create_table(
        "prescription",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("prescriber", sa.String(length=200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_prescription_event_id_event")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prescription")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("serial", sa.String(length=20), nullable=True),
        sa.Column("org_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_alert_org_id_organisation")),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_alert_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_gtin"), ["gtin"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_type"), ["type"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "containment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("child_sscc", sa.String(length=18), nullable=True),
        sa.Column("parent_sscc", sa.String(length=18), nullable=False),
        sa.Column("packed_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unpacked_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(["child_sscc"], ["container.sscc"], name=op.f("fk_containment_child_sscc_container")),
        sa.ForeignKeyConstraint(["packed_event_id"], ["event.id"], name=op.f("fk_containment_packed_event_id_event")),
        sa.ForeignKeyConstraint(["parent_sscc"], ["container.sscc"], name=op.f("fk_containment_parent_sscc_container")),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_containment_unit_id_unit")),
        sa.ForeignKeyConstraint(
            ["unpacked_event_id"], ["event.id"], name=op.f("fk_containment_unpacked_event_id_event")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_containment")),
    )
    with op.batch_alter_table("containment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_containment_child_sscc"), ["child_sscc"], unique=False)
        batch_op.create_index(batch_op.f("ix_containment_parent_sscc"), ["parent_sscc"], unique=False)
        batch_op.create_index(batch_op.f("ix_containment_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "event_item",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("container_sscc", sa.String(length=18), nullable=True),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["container_sscc"], ["container.sscc"], name=op.f("fk_event_item_container_sscc_container")
        ),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"], name=op.f("fk_event_item_event_id_event")),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_event_item_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_item")),
    )
    with op.batch_alter_table("event_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_item_container_sscc"), ["container_sscc"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_item_event_id"), ["event_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_event_item_unit_id"), ["unit_id"], unique=False)

    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("to_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("previous", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("container_sscc", sa.String(length=18), nullable=True))
        batch_op.create_index(
            "ix_unit_container_sscc",
            ["container_sscc"],
            unique=False,
            sqlite_where=sa.text("container_sscc IS NOT NULL"),
            postgresql_where=sa.text("container_sscc IS NOT NULL"),
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_unit_container_sscc_container"), "container", ["container_sscc"], ["sscc"]
        )
        batch_op.create_foreign_key(batch_op.f("fk_unit_to_id_organisation"), "organisation", ["to_id"], ["id"])
        batch_op.create_foreign_key(batch_op.f("fk_unit_holder_id_organisation"), "organisation", ["holder_id"], ["id"])


def downgrade() -> None:

    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_unit_holder_id_organisation"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_unit_to_id_organisation"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_unit_container_sscc_container"), type_="foreignkey")
        batch_op.drop_index(
            "ix_unit_container_sscc",
            sqlite_where=sa.text("container_sscc IS NOT NULL"),
            postgresql_where=sa.text("container_sscc IS NOT NULL"),
        )
        batch_op.drop_column("container_sscc")
        batch_op.drop_column("previous")
        batch_op.drop_column("to_id")
        batch_op.drop_column("holder_id")

    with op.batch_alter_table("event_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_item_unit_id"))
        batch_op.drop_index(batch_op.f("ix_event_item_event_id"))
        batch_op.drop_index(batch_op.f("ix_event_item_container_sscc"))

    op.drop_table("event_item")
    with op.batch_alter_table("containment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_containment_unit_id"))
        batch_op.drop_index(batch_op.f("ix_containment_parent_sscc"))
        batch_op.drop_index(batch_op.f("ix_containment_child_sscc"))

    op.drop_table("containment")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_unit_id"))
        batch_op.drop_index(batch_op.f("ix_alert_type"))
        batch_op.drop_index(batch_op.f("ix_alert_org_id"))
        batch_op.drop_index(batch_op.f("ix_alert_gtin"))
        batch_op.drop_index(batch_op.f("ix_alert_created_at"))

    op.drop_table("alert")
    op.drop_table("prescription")
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_org_id"))

    op.drop_table("event")
    with op.batch_alter_table("container", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_container_parent_sscc"))

    op.drop_table("container")
