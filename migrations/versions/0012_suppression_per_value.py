"""Suppression list: one keyed hash a value (email, phone, NIP, PESEL), under the list's own key

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:00:00

Existing entries are blind indexes of an email or phone; they are kept, one
row a hash, marked ``under_index_key`` (the checks still honour them).
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('under_index_key', sa.Boolean(), nullable=False, server_default=sa.false()))
    suppression = sa.table(
        'suppression', sa.column('id', sa.Integer), sa.column('email_bidx', sa.String), sa.column('phone_bidx', sa.String),
        sa.column('digest', sa.String), sa.column('under_index_key', sa.Boolean), sa.column('created_at', sa.DateTime),
        sa.column('event_id', sa.Integer),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(suppression)).all()
    for row in rows:
        hashes = [value for value in (row.email_bidx, row.phone_bidx) if value]
        if not hashes:
            connection.execute(suppression.delete().where(suppression.c.id == row.id))
            continue
        connection.execute(suppression.update().where(suppression.c.id == row.id)
                           .values(digest=hashes[0], under_index_key=True))
        for value in hashes[1:]:
            connection.execute(suppression.insert().values(digest=value, under_index_key=True,
                                                           created_at=row.created_at, event_id=row.event_id))
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_index('ix_suppression_email_bidx')
        batch_op.drop_index('ix_suppression_phone_bidx')
        batch_op.drop_column('email_bidx')
        batch_op.drop_column('phone_bidx')
        batch_op.alter_column('digest', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f('ix_suppression_digest'), ['digest'], unique=False)


def downgrade():
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppression_digest'))
        batch_op.add_column(sa.Column('email_bidx', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('phone_bidx', sa.String(length=32), nullable=True))
        batch_op.create_index('ix_suppression_email_bidx', ['email_bidx'], unique=False)
        batch_op.create_index('ix_suppression_phone_bidx', ['phone_bidx'], unique=False)
    # only the entries that are blind indexes can go back (as emails: which one was which is not kept)
    op.execute("UPDATE suppression SET email_bidx = digest WHERE under_index_key")
    op.execute("DELETE FROM suppression WHERE NOT under_index_key")
    with op.batch_alter_table('suppression', schema=None) as batch_op:
        batch_op.drop_column('under_index_key')
        batch_op.drop_column('digest')
