"""Recalls; scans for early warning; alert region, root cause and last update.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('recall',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=False),
    sa.Column('lots', sa.JSON(), nullable=False),
    sa.Column('serials', sa.JSON(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('recall_class', sa.String(length=3), nullable=False),
    sa.Column('instructions', sa.String(length=1000), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='open', nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("recall_class IN ('I', 'II', 'III')", name=op.f('ck_recall_class')),
    sa.ForeignKeyConstraint(['created_by'], ['organisation.id'], name=op.f('fk_recall_created_by_organisation')),
    sa.ForeignKeyConstraint(['gtin'], ['product.gtin'], name=op.f('fk_recall_gtin_product')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall'))
    )
    with op.batch_alter_table('recall', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_gtin'), ['gtin'], unique=False)

    op.create_table('scan',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=False),
    sa.Column('serial', sa.String(length=20), nullable=False),
    sa.Column('unit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('verdict', sa.String(length=20), nullable=False),
    sa.Column('client', sa.String(length=16), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('triage', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], name=op.f('fk_scan_unit_id_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan'))
    )
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.create_index('ix_scan_unit_id_scanned_at', ['unit_id', 'scanned_at'], unique=False)

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('root_cause', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_alert_region'), ['region'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_region'))
        batch_op.drop_column('updated_at')
        batch_op.drop_column('root_cause')
        batch_op.drop_column('region')

    with op.batch_alter_table('recall', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recall_gtin'))

    op.drop_table('recall')
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_unit_id_scanned_at')

    op.drop_table('scan')

