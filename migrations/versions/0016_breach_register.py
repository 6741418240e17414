"""The breach register (Art. 33-34): breaches with their 72-hour clock, and the persons each affected

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 22:20:00

A breach's affected persons are rows about a client: an erasure deletes them
(the breach keeps its count).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('breach_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('title', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('occurred_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('discovered_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('description', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('data_categories', sa.String(length=300), autoincrement=False, nullable=True),
    sa.Column('subject_categories', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('consequences', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('measures', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('high_risk', sa.Boolean(), autoincrement=False, nullable=True),
    sa.Column('reported_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('authority_reference', sa.String(length=100), autoincrement=False, nullable=True),
    sa.Column('delay_reason', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('affected_count', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_by_id', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('created_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('lock_version', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('end_transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id')
    )
    with op.batch_alter_table('breach_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_breach_version_discovered_at'), ['discovered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_breach_version_end_transaction_id'), ['end_transaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_breach_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_breach_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index('ix_breach_version_pk_validity', ['id', 'transaction_id', 'end_transaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_breach_version_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('breach',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=True),
    sa.Column('discovered_at', sa.DateTime(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('data_categories', sa.String(length=300), nullable=False),
    sa.Column('subject_categories', sa.String(length=200), nullable=False),
    sa.Column('consequences', sa.Text(), nullable=False),
    sa.Column('measures', sa.Text(), nullable=False),
    sa.Column('high_risk', sa.Boolean(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=True),
    sa.Column('authority_reference', sa.String(length=100), nullable=True),
    sa.Column('delay_reason', sa.Text(), nullable=True),
    sa.Column('affected_count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['ab_user.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('breach', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_breach_discovered_at'), ['discovered_at'], unique=False)

    op.create_table('breach_person',
    sa.Column('breach_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('openings', sa.Integer(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('notified_at', sa.DateTime(), nullable=True),
    sa.Column('notified_by', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['breach_id'], ['breach.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('breach_id', 'client_id')
    )
    with op.batch_alter_table('breach_person', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_breach_person_client_id'), ['client_id'], unique=False)



def downgrade():
    with op.batch_alter_table('breach_person', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_breach_person_client_id'))

    op.drop_table('breach_person')
    with op.batch_alter_table('breach', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_breach_discovered_at'))

    op.drop_table('breach')
    with op.batch_alter_table('breach_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_breach_version_transaction_id'))
        batch_op.drop_index('ix_breach_version_pk_validity')
        batch_op.drop_index('ix_breach_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_breach_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_breach_version_end_transaction_id'))
        batch_op.drop_index(batch_op.f('ix_breach_version_discovered_at'))

    op.drop_table('breach_version')
