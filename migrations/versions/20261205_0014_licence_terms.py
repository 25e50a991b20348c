"""Licences in time: ``valid_from``, ``valid_until`` and ``revoked_at`` (issue 16).

A licence now has a term (days, both ends included; no end when ``valid_until`` is NULL) and may be revoked. An
organisation may hold several grants of one kind over time (a licence revoked and granted anew), so the unique
(org_id, kind) gives way to an index. Existing licences stand from the day they were granted, with no end.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("licence") as batch:
        batch.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("valid_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_by", sa.String(32), nullable=True))
    bind = op.get_bind()
    licence = sa.table("licence", sa.column("id", sa.Integer()), sa.column("granted_at"), sa.column("valid_from"))
    for row_id, granted_at in bind.execute(sa.select(licence.c.id, licence.c.granted_at)).all():
        if isinstance(granted_at, datetime):
            day = (granted_at.astimezone(UTC) if granted_at.tzinfo else granted_at).date()
        else:
            day = date.fromisoformat(str(granted_at)[:10])
        bind.execute(sa.update(licence).where(licence.c.id == row_id).values(valid_from=day))
    with op.batch_alter_table("licence") as batch:
        batch.alter_column("valid_from", existing_type=sa.Date(), nullable=False)
        batch.drop_constraint("uq_licence_org_id_kind", type_="unique")
        batch.create_check_constraint(op.f("ck_licence_dates"), "valid_until IS NULL OR valid_until >= valid_from")
        batch.create_index("ix_licence_org_id_kind", ["org_id", "kind"])
        batch.create_index("ix_licence_valid_until", ["valid_until"])


def downgrade() -> None:
    with op.batch_alter_table("licence") as batch:
        batch.drop_index("ix_licence_valid_until")
        batch.drop_index("ix_licence_org_id_kind")
        batch.drop_constraint(op.f("ck_licence_dates"), type_="check")
        batch.create_unique_constraint("uq_licence_org_id_kind", ["org_id", "kind"])
        batch.drop_column("revoked_by")
        batch.drop_column("revoked_at")
        batch.drop_column("valid_until")
        batch.drop_column("valid_from")
