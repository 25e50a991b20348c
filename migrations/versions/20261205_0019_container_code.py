"""Imports of codes (issue 15): a package's printed code on its container, and an issuance's registering event.

``container.code``: the 20-digit or GS1 code an import registered a package under.

A package code that is not an SSCC is keyed by a one-way digest of it (app/domain/code_import.py), so without this
column EPCIS export could only name a package reached through another code (a case inside a pallet, the boxes an
unpack took out) by that key. Nullable: an SSCC is its own code, and packages imported before this revision keep
no code (the digest cannot be reversed).

``issuance.event_id``: the import's logged ``pack`` event, from which its units are inside their packages. The
import writes no containment row for a unit it put in a package (a million of them cost as much as the units
themselves); the interval is read from the unit's container until the unit leaves it, when the row is written
with this event as its start (app/services/custody/containers.py).

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

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("container", sa.Column("code", sa.String(length=48), nullable=True))
    if op.get_bind().dialect.name == "sqlite":  # no ALTER of constraints, but a column may carry its reference
        op.execute(
            "ALTER TABLE issuance ADD COLUMN event_id INTEGER "
            "CONSTRAINT fk_issuance_event_id_event REFERENCES event (id)"
        )
    else:
        op.add_column("issuance", sa.Column("event_id", _BIG, nullable=True))
        op.create_foreign_key(op.f("fk_issuance_event_id_event"), "issuance", "event", ["event_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("issuance") as batch:
        batch.drop_column("event_id")
    with op.batch_alter_table("container") as batch:
        batch.drop_column("code")
