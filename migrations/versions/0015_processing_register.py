"""The record of processing activities (Art. 30(1)), versioned

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 21:52:02

The administrator keeps it; its categories of data are the registry's, its
document goes to the supervisory authority, and the activities about clients
are told to each person in their export (Art. 15(1)).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('processing_activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('lawful_basis', sa.String(length=30), nullable=False),
    sa.Column('data_categories', sa.String(length=300), nullable=False),
    sa.Column('subject_categories', sa.String(length=200), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=True),
    sa.Column('third_countries', sa.Text(), nullable=True),
    sa.Column('retention', sa.Text(), nullable=False),
    sa.Column('security_measures', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('lock_version', sa.Integer(), nullable=False),
    sa.CheckConstraint("lawful_basis IN ('consent', 'contract', 'legal_obligation', 'vital_interests', 'public_task', 'legitimate_interest')", name='ck_processing_activity_basis'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sqlite_autoincrement=True
    )
    op.create_table('processing_activity_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('purpose', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('lawful_basis', sa.String(length=30), autoincrement=False, nullable=True),
    sa.Column('data_categories', sa.String(length=300), autoincrement=False, nullable=True),
    sa.Column('subject_categories', sa.String(length=200), autoincrement=False, nullable=True),
    sa.Column('recipients', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('third_countries', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('retention', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('security_measures', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('source', sa.Text(), autoincrement=False, nullable=True),
    sa.Column('updated_at', sa.DateTime(), autoincrement=False, nullable=True),
    sa.Column('lock_version', sa.Integer(), autoincrement=False, nullable=True),
    sa.Column('transaction_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('end_transaction_id', sa.BigInteger(), nullable=True),
    sa.Column('operation_type', sa.SmallInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', 'transaction_id')
    )
    with op.batch_alter_table('processing_activity_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processing_activity_version_end_transaction_id'), ['end_transaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_processing_activity_version_operation_type'), ['operation_type'], unique=False)
        batch_op.create_index('ix_processing_activity_version_pk_transaction_id', ['id', sa.literal_column('transaction_id DESC')], unique=False)
        batch_op.create_index('ix_processing_activity_version_pk_validity', ['id', 'transaction_id', 'end_transaction_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_processing_activity_version_transaction_id'), ['transaction_id'], unique=False)



def downgrade():
    with op.batch_alter_table('processing_activity_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processing_activity_version_transaction_id'))
        batch_op.drop_index('ix_processing_activity_version_pk_validity')
        batch_op.drop_index('ix_processing_activity_version_pk_transaction_id')
        batch_op.drop_index(batch_op.f('ix_processing_activity_version_operation_type'))
        batch_op.drop_index(batch_op.f('ix_processing_activity_version_end_transaction_id'))

    op.drop_table('processing_activity_version')
    op.drop_table('processing_activity')
