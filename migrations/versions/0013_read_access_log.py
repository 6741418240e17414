"""Read-access log: who opened which cards, when, from where

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 00:40:00

One record per request that showed clients' data; the cards it showed as
(record, client) pairs, which an erasure deletes with the person.
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('read_access',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('roles', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('place', sa.String(length=120), nullable=False),
    sa.Column('masked', sa.Boolean(), nullable=False),
    sa.Column('card_count', sa.Integer(), nullable=False),
    sa.Column('ip_address', sa.String(), nullable=True),
    sa.CheckConstraint("kind IN ('card', 'edit', 'list', 'search', 'history', 'export', 'api')", name='ck_read_access_kind'),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('read_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_read_access_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_read_access_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index('ix_read_access_user_time', ['user_id', 'occurred_at'], unique=False)

    op.create_table('read_access_card',
    sa.Column('read_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['read_id'], ['read_access.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('read_id', 'client_id')
    )
    with op.batch_alter_table('read_access_card', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_read_access_card_client_id'), ['client_id'], unique=False)



def downgrade():
    with op.batch_alter_table('read_access_card', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_read_access_card_client_id'))

    op.drop_table('read_access_card')
    with op.batch_alter_table('read_access', schema=None) as batch_op:
        batch_op.drop_index('ix_read_access_user_time')
        batch_op.drop_index(batch_op.f('ix_read_access_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_read_access_kind'))

    op.drop_table('read_access')
