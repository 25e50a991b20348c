"""EPCIS named queries (issue 18): ``POST /epcis/queries`` keeps a query's parameters under a name, per
organisation (app/db/models/epcis.py, ``EpcisNamedQuery``).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "epcis_named_query",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["organisation.id"], name=op.f("fk_epcis_named_query_org_id_organisation")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_named_query")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_epcis_named_query_org_id_name")),
    )


def downgrade() -> None:
    op.drop_table("epcis_named_query")
