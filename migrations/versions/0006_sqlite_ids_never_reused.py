"""SQLite: ids of client-card rows are never handed out twice (AUTOINCREMENT)

Without AUTOINCREMENT SQLite gives a new row the largest id plus one, so after
the newest card is deleted the next card would get its id, and with it the
deleted card's versions in history. PostgreSQL's sequences never reuse an id.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 05:40:00

"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

#: parents before children; every versioned table with its own id
TABLES = (
    "mailing_list", "client", "contact_person", "note", "subscription", "consent", "restriction",
    "data_subject_request", "gdpr_event", "permission_change",
)


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Recreating a table drops the old one, and with foreign keys on SQLite would
    # first delete its rows, cascading into the rows that refer to them. The
    # pragma only takes effect outside a transaction.
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=OFF")
        for table in TABLES:
            with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
                pass
        op.execute("PRAGMA foreign_keys=ON")


def upgrade():
    _recreate(True)


def downgrade():
    _recreate(False)
