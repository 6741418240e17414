"""Exports sent to the person: a link by email and a code given another way

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 23:10:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('handover',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('failed_codes', sa.Integer(), nullable=False),
    sa.Column('downloaded_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['request_id'], ['data_subject_request.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sent_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('handover', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_handover_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_handover_request_id'), ['request_id'], unique=False)



def downgrade():
    with op.batch_alter_table('handover', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_handover_request_id'))
        batch_op.drop_index(batch_op.f('ix_handover_client_id'))

    op.drop_table('handover')
