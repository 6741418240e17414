"""Requests made on the public form, linked from the data-subject requests they registered

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 23:00:00

A request becomes a data-subject request once its email link is followed; the
identity is then "verified by email" (a new verification method).
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

METHODS = "'id_document', 'email_on_file', 'signed_letter', 'qualified_signature', 'phone_callback'"


def upgrade():
    op.create_table('public_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(), nullable=False),
    sa.Column('email_bidx', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(), nullable=True),
    sa.Column('phone_bidx', sa.String(length=32), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('verification_hash', sa.String(length=64), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=True),
    sa.Column('status_hash', sa.String(length=64), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('access', 'rectification', 'erasure', 'restriction', 'portability', 'objection')", name='ck_public_request_kind'),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('status_hash'),
    sa.UniqueConstraint('verification_hash'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('public_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_public_request_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_public_request_email_bidx'), ['email_bidx'], unique=False)

    with op.batch_alter_table('data_subject_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_request_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_data_subject_request_public_request_id'), ['public_request_id'], unique=False)
        batch_op.create_foreign_key('fk_data_subject_request_public_request', 'public_request', ['public_request_id'], ['id'], ondelete='SET NULL')
        batch_op.drop_constraint('ck_request_verification', type_='check')
        batch_op.create_check_constraint(
            'ck_request_verification',
            f"verification_method IS NULL OR verification_method IN ({METHODS}, 'email_link')",
        )

    with op.batch_alter_table('data_subject_request_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_request_id', sa.Integer(), autoincrement=False, nullable=True))
        batch_op.create_index(batch_op.f('ix_data_subject_request_version_public_request_id'), ['public_request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('data_subject_request_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_subject_request_version_public_request_id'))
        batch_op.drop_column('public_request_id')

    with op.batch_alter_table('data_subject_request', schema=None) as batch_op:
        batch_op.drop_constraint('ck_request_verification', type_='check')
        batch_op.create_check_constraint('ck_request_verification', f"verification_method IS NULL OR verification_method IN ({METHODS})")
        batch_op.drop_constraint('fk_data_subject_request_public_request', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_data_subject_request_public_request_id'))
        batch_op.drop_column('public_request_id')

    with op.batch_alter_table('public_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_public_request_email_bidx'))
        batch_op.drop_index(batch_op.f('ix_public_request_client_id'))

    op.drop_table('public_request')
