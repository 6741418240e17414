"""A working day: a login that must choose a new password is recorded as such

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

RESULTS = ('success', 'bad_password', 'unknown_user', 'locked', 'inactive', 'expired', 'bad_code', 'second_factor')


def _allowed(results) -> str:
    return "result IN (" + ", ".join(f"'{result}'" for result in results) + ")"


def upgrade():
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.drop_constraint('ck_login_event_result', type_='check')
        batch_op.create_check_constraint('ck_login_event_result', _allowed((*RESULTS, 'must_change')))


def downgrade():
    op.execute("UPDATE login_event SET result = 'expired' WHERE result = 'must_change'")
    with op.batch_alter_table('login_event', schema=None) as batch_op:
        batch_op.drop_constraint('ck_login_event_result', type_='check')
        batch_op.create_check_constraint('ck_login_event_result', _allowed(RESULTS))
