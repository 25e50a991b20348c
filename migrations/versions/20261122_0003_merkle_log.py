"""Merkle log: stored subtree hashes (leaves name their event), the log size, the checkpoint key, checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('log_checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_checkpoint'))
    )
    with op.batch_alter_table('log_checkpoint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_log_checkpoint_tree_size'), ['tree_size'], unique=False)

    op.create_table('log_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('sealed_private_key', sa.LargeBinary(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_key'))
    )
    op.create_table('log_node',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_log_node_event_id_event')),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_log_node')),
    sa.UniqueConstraint('event_id', name=op.f('uq_log_node_event_id'))
    )
    op.create_table('log_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_state'))
    )
    op.execute("INSERT INTO log_state (id, tree_size) VALUES (1, 0)")




def downgrade() -> None:

    op.drop_table('log_state')
    op.drop_table('log_node')
    op.drop_table('log_key')
    with op.batch_alter_table('log_checkpoint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_log_checkpoint_tree_size'))

    op.drop_table('log_checkpoint')

