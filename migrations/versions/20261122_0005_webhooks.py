"""Webhooks: endpoints and deliveries; recall notices and their acknowledgement.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_endpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('sealed_secret', sa.LargeBinary(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_webhook_endpoint_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoint'))
    )
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.create_index('uq_webhook_endpoint_org_id_active', ['org_id'], unique=True, sqlite_where=sa.text('disabled_at IS NULL'), postgresql_where=sa.text('disabled_at IS NULL'))

    op.create_table('webhook_delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_delivery_status')),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'], name=op.f('fk_webhook_delivery_endpoint_id_webhook_endpoint')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_delivery_endpoint_id'), ['endpoint_id'], unique=False)
        batch_op.create_index('ix_webhook_delivery_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('recall_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recall_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=32), nullable=False),
    sa.Column('units', sa.Integer(), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_delivery.id'], name=op.f('fk_recall_notice_delivery_id_webhook_delivery')),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_recall_notice_org_id_organisation')),
    sa.ForeignKeyConstraint(['recall_id'], ['recall.id'], name=op.f('fk_recall_notice_recall_id_recall')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recall_notice')),
    sa.UniqueConstraint('recall_id', 'org_id', name=op.f('uq_recall_notice_recall_id_org_id'))
    )
    with op.batch_alter_table('recall_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recall_notice_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('recall_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recall_notice_org_id'))

    op.drop_table('recall_notice')
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_delivery_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_webhook_delivery_endpoint_id'))

    op.drop_table('webhook_delivery')
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.drop_index('uq_webhook_endpoint_org_id_active', sqlite_where=sa.text('disabled_at IS NULL'), postgresql_where=sa.text('disabled_at IS NULL'))

    op.drop_table('webhook_endpoint')
