"""Foundation: organisations, licences, API keys, signing keys, products, batches, issuances, units.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "organisation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("gln", sa.String(length=13), nullable=True),
        sa.Column("region", sa.String(length=10), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'manufacturer', 'distributor', 'retailer', 'platform', 'regulator')",
            name=op.f("ck_organisation_role"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("gln", name=op.f("uq_organisation_gln")),
    )
    op.create_table(
        "signing_key",
        sa.Column("key_tag", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("sealed_private_key", sa.LargeBinary(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_tag", name=op.f("pk_signing_key")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_api_key_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_org_id"), ["org_id"], unique=False)

    op.create_table(
        "licence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=80), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('drug_manufacturing', 'drug_wholesale', 'drug_retail', 'online_drug_sales', 'medical_institution')",
            name=op.f("ck_licence_kind"),
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_licence_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence")),
        sa.UniqueConstraint("org_id", "kind", name=op.f("uq_licence_org_id_kind")),
    )
    op.create_table(
        "product",
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("manufacturer_id", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "category IN ('drug_rx', 'drug_otc', 'drug_restricted', 'device', 'food', 'industrial')",
            name=op.f("ck_product_category"),
        ),
        sa.ForeignKeyConstraint(
            ["manufacturer_id"], ["organisation.id"], name=op.f("fk_product_manufacturer_id_organisation")
        ),
        sa.PrimaryKeyConstraint("gtin", name=op.f("pk_product")),
    )
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_manufacturer_id"), ["manufacturer_id"], unique=False)

    op.create_table(
        "batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("lot", sa.String(length=20), nullable=False),
        sa.Column("manufactured_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("expires_on > manufactured_on", name=op.f("ck_batch_dates")),
        sa.ForeignKeyConstraint(["gtin"], ["product.gtin"], name=op.f("fk_batch_gtin_product")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch")),
        sa.UniqueConstraint("gtin", "lot", name=op.f("uq_batch_gtin_lot")),
    )
    op.create_table(
        "issuance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("key_tag", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_issuance_batch_id_batch")),
        sa.ForeignKeyConstraint(["key_tag"], ["signing_key.key_tag"], name=op.f("fk_issuance_key_tag_signing_key")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuance")),
    )
    with op.batch_alter_table("issuance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issuance_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "unit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("gtin", sa.String(length=14), nullable=False),
        sa.Column("serial", sa.String(length=20), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("issuance_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), server_default="issued", nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["batch.id"], name=op.f("fk_unit_batch_id_batch")),
        sa.ForeignKeyConstraint(["issuance_id"], ["issuance.id"], name=op.f("fk_unit_issuance_id_issuance")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit")),
        sa.UniqueConstraint("gtin", "serial", name=op.f("uq_unit_gtin_serial")),
    )
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.create_index("ix_unit_issuance_id_id", ["issuance_id", "id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_index("ix_unit_issuance_id_id")

    op.drop_table("unit")
    with op.batch_alter_table("issuance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuance_batch_id"))

    op.drop_table("issuance")
    op.drop_table("batch")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_manufacturer_id"))

    op.drop_table("product")
    op.drop_table("licence")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_org_id"))

    op.drop_table("api_key")
    op.drop_table("signing_key")
    op.drop_table("organisation")
