"""EPCIS 2.0: capture jobs, captured events and their identifiers; issuances without a signing key.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "epcis_capture",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_behaviour", sa.String(length=10), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("captured", sa.Integer(), server_default="0", nullable=False),
        sa.Column("duplicates", sa.Integer(), server_default="0", nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_epcis_capture_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_capture")),
    )
    op.create_index(op.f("ix_epcis_capture_org_id"), "epcis_capture", ["org_id"])
    op.create_table(
        "epcis_event",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=False),
        sa.Column("event_hash", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=True),
        sa.Column("biz_step", sa.String(length=500), nullable=True),
        sa.Column("disposition", sa.String(length=500), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_point", sa.String(length=500), nullable=True),
        sa.Column("biz_location", sa.String(length=500), nullable=True),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("capture_id", sa.String(length=40), nullable=False),
        sa.Column("native_event_id", _BIG, nullable=True),
        sa.Column("custody", sa.String(length=10), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["capture_id"], ["epcis_capture.id"], name=op.f("fk_epcis_event_capture_id_epcis_capture")
        ),
        sa.ForeignKeyConstraint(["native_event_id"], ["event.id"], name=op.f("fk_epcis_event_native_event_id_event")),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_epcis_event_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_event")),
        sa.UniqueConstraint("native_event_id", name=op.f("uq_epcis_event_native_event_id")),
    )
    op.create_index(op.f("ix_epcis_event_capture_id"), "epcis_event", ["capture_id"])
    op.create_index(op.f("ix_epcis_event_event_id"), "epcis_event", ["event_id"])
    op.create_index(op.f("ix_epcis_event_event_time"), "epcis_event", ["event_time"])
    op.create_index(op.f("ix_epcis_event_org_id"), "epcis_event", ["org_id"])
    op.create_index("ix_epcis_event_record_time_id", "epcis_event", ["record_time", "id"])
    op.create_index("ix_epcis_event_event_hash_kind", "epcis_event", ["event_hash", "kind"])
    op.create_index(
        "uq_epcis_event_event_hash_event_id",
        "epcis_event",
        ["event_hash", "event_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'event'"),
        postgresql_where=sa.text("kind = 'event'"),
    )
    op.create_table(
        "epcis_epc",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("epcis_event_id", _BIG, nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("epc", sa.String(length=500), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("unit_id", _BIG, nullable=True),
        sa.ForeignKeyConstraint(
            ["epcis_event_id"], ["epcis_event.id"], name=op.f("fk_epcis_epc_epcis_event_id_epcis_event")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_epcis_epc_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_epc")),
    )
    op.create_index(op.f("ix_epcis_epc_epcis_event_id"), "epcis_epc", ["epcis_event_id"])
    op.create_index(op.f("ix_epcis_epc_gtin"), "epcis_epc", ["gtin"])
    op.create_index(op.f("ix_epcis_epc_unit_id"), "epcis_epc", ["unit_id"])
    op.create_index("ix_epcis_epc_epc_role", "epcis_epc", ["epc", "role"])
    with op.batch_alter_table("issuance") as batch_op:
        batch_op.alter_column("key_tag", existing_type=sa.Integer(), nullable=True)
    op.create_index("ix_event_recorded_at_id", "event", ["recorded_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_event_recorded_at_id", table_name="event")
    with op.batch_alter_table("issuance") as batch_op:
        batch_op.alter_column("key_tag", existing_type=sa.Integer(), nullable=False)
    op.drop_table("epcis_epc")
    op.drop_table("epcis_event")
    op.drop_table("epcis_capture")
