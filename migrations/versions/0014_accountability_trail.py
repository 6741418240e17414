"""The tamper-evident trail: a chain of keyed links per kind of accountability record

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 01:10:00

Records written before this are linked once by ``flask crm init`` (the trail
starts there); see crm.accountability.trail.
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_head',
    sa.Column('chain', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain')
    )
    op.create_table('audit_link',
    sa.Column('chain', sa.String(length=20), nullable=False),
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('record_table', sa.String(length=64), nullable=False),
    sa.Column('record_key', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('mac', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', 'seq')
    )
    with op.batch_alter_table('audit_link', schema=None) as batch_op:
        batch_op.create_index('ix_audit_link_record', ['record_table', 'record_key'], unique=False)

    op.create_table('audit_verification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('verified_at', sa.DateTime(), nullable=False),
    sa.Column('links', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('intact', sa.Boolean(), nullable=False),
    sa.Column('problems', sa.String(length=4000), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )


def downgrade():
    op.drop_table('audit_verification')
    with op.batch_alter_table('audit_link', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_link_record')

    op.drop_table('audit_link')
    op.drop_table('audit_head')
