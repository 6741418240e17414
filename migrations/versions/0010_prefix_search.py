"""Word indexes also hold the starts of words (three letters or more), for the one search box

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    from crm.privacy.reindex import rebuild_word_indexes

    rebuild_word_indexes(op.get_bind())


def downgrade():
    # the starts of words are extra tokens: whole-word search reads the same with them
    pass
