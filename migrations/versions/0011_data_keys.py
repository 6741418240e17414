"""A data key per client: the client card names its key in the key store

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:00:00

The values themselves move under per-client keys with ``flask crm keys rotate``
(batched, resumable); until then they stay readable under the master key.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('client', 'client_version'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('data_key_id', sa.String(length=32), nullable=True))
            batch_op.create_index(batch_op.f(f'ix_{table}_data_key_id'), ['data_key_id'], unique=False)


def downgrade():
    for table in ('client', 'client_version'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_data_key_id'))
            batch_op.drop_column('data_key_id')
