"""A search by a word reads the word hashes from a narrow index on SQLite (crm.clients.models.word_index_scan)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

TABLES = ('client', 'contact_person')


def upgrade():
    # SQLite only: PostgreSQL scans no index for LIKE '%...%', and its btree refuses entries over 2,704 bytes
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        op.create_index(f'ix_{table}_word_index', table, ['word_index'], unique=False)


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in TABLES:
        op.drop_index(f'ix_{table}_word_index', table_name=table)
