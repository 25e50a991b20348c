"""A package's printed code on its container (issue 15): the 20-digit or GS1 code an import registered it under.

A package code that is not an SSCC is keyed by a one-way digest of it (app/domain/code_import.py), so without this
column EPCIS export could only name a package reached through another code (a case inside a pallet, the boxes an
unpack took out) by that key. Nullable: an SSCC is its own code, and packages imported before this revision keep
no code (the digest cannot be reversed).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("container", sa.Column("code", sa.String(length=48), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("container") as batch:
        batch.drop_column("code")
