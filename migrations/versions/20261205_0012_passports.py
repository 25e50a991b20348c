"""Passports: product, lot and unit passports, their versions (leaves of the log) and uploaded documents.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_document")),
    )
    op.create_table(
        "document_upload",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["document.sha256"], name=op.f("fk_document_upload_sha256_document")),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_document_upload_org_id_organisation")),
        sa.PrimaryKeyConstraint("sha256", "org_id", name=op.f("pk_document_upload")),
    )
    op.create_table(
        "passport",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", _BIG, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["gtin"], ["product.gtin"], name=op.f("fk_passport_gtin_product")),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_passport_batch_id_batch")),
        sa.ForeignKeyConstraint(["unit_id"], ["unit.id"], name=op.f("fk_passport_unit_id_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport")),
        sa.UniqueConstraint("subject", name=op.f("uq_passport_subject")),
        **_AUTOINCREMENT,
    )
    op.create_index(op.f("ix_passport_gtin"), "passport", ["gtin"])
    op.create_table(
        "passport_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("passport_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["passport_id"], ["passport.id"], name=op.f("fk_passport_version_passport_id_passport")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_passport_version_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passport_version")),
        sa.UniqueConstraint("passport_id", "version", name=op.f("uq_passport_version_passport_id_version")),
        sa.UniqueConstraint("log_index", name=op.f("uq_passport_version_log_index")),
        **_AUTOINCREMENT,
    )
    op.create_table(
        "passport_document_ref",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["passport_version.id"], name=op.f("fk_passport_document_ref_version_id_passport_version")
        ),
        sa.ForeignKeyConstraint(["sha256"], ["document.sha256"], name=op.f("fk_passport_document_ref_sha256_document")),
        sa.PrimaryKeyConstraint("version_id", "sha256", "field", name=op.f("pk_passport_document_ref")),
    )
    op.create_index(op.f("ix_passport_document_ref_sha256"), "passport_document_ref", ["sha256"])


def downgrade() -> None:
    op.drop_table("passport_document_ref")
    op.drop_table("passport_version")
    op.drop_table("passport")
    op.drop_table("document_upload")
    op.drop_table("document")
