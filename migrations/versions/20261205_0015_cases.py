"""Suspect-product cases: the case, the lots and units it names, its changes (leaves of the log) and notices.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AUTOINCREMENT = {"sqlite_autoincrement": True}
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "suspect_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lots", sa.JSON(), nullable=False),
        sa.Column("serials", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("opened_by", sa.String(length=32), nullable=False),
        sa.Column("opened_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("incident_number", sa.String(length=80), nullable=True),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.ForeignKeyConstraint(["gtin"], ["product.gtin"], name=op.f("fk_suspect_case_gtin_product")),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["organisation.id"], name=op.f("fk_suspect_case_opened_by_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suspect_case")),
        **_AUTOINCREMENT,
    )
    op.create_index(op.f("ix_suspect_case_status"), "suspect_case", ["status"])
    op.create_index(op.f("ix_suspect_case_gtin"), "suspect_case", ["gtin"])
    op.create_index(op.f("ix_suspect_case_opened_by"), "suspect_case", ["opened_by"])
    op.create_table(
        "case_subject",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", _BIG, nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["suspect_case.id"], name=op.f("fk_case_subject_case_id_suspect_case")),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_case_subject_batch_id_batch")),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_case_subject_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_subject")),
        **_AUTOINCREMENT,
    )
    op.create_index(op.f("ix_case_subject_case_id"), "case_subject", ["case_id"])
    op.create_index("ix_case_subject_batch_id_active", "case_subject", ["batch_id", "active"])
    op.create_index("ix_case_subject_unit_id_active", "case_subject", ["unit_id", "active"])
    op.create_table(
        "case_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("readers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["suspect_case.id"], name=op.f("fk_case_change_case_id_suspect_case")),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_case_change_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_change")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_case_change_case_id_seq")),
        sa.UniqueConstraint("log_index", name=op.f("uq_case_change_log_index")),
        **_AUTOINCREMENT,
    )
    op.create_table(
        "case_notice",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("notified_at", _TIME, nullable=False),
        sa.Column("delivery_id", _BIG, nullable=True),
        sa.ForeignKeyConstraint(["change_id"], ["case_change.id"], name=op.f("fk_case_notice_change_id_case_change")),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_case_notice_org_id_organisation")),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["webhook_delivery.id"], name=op.f("fk_case_notice_delivery_id_webhook_delivery")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notice")),
        **_AUTOINCREMENT,
    )
    op.create_index(op.f("ix_case_notice_change_id"), "case_notice", ["change_id"])
    op.create_index(op.f("ix_case_notice_org_id"), "case_notice", ["org_id"])


def downgrade() -> None:
    op.drop_table("case_notice")
    op.drop_table("case_change")
    op.drop_table("case_subject")
    op.drop_table("suspect_case")
