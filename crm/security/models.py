"""Security state of staff accounts kept beside FAB's ``ab_user``: lockout,
password history and the login history.

Kept in tables of their own rather than by extending FAB's user model, so FAB's
account screens and commands keep working unchanged.
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, CheckConstraint, Column, DateTime, ForeignKey, Integer, String, Text, and_, case, false, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import column_property, relationship
from sqlalchemy.sql.expression import FunctionElement

from crm.constraints import AUTOINCREMENT, one_of
from crm.privacy.categories import ACCOUNT, ONLINE
from crm.privacy.registry import Erasure, Personal, PersonalData, register_models
from crm.privacy.types import EncryptedString
from crm.security.choices import LOGIN_RESULTS
from crm.timeutil import utcnow


class AccountState(Model):
    """Failed attempts and lockout of one staff account (one row per user, made on demand)."""

    __tablename__ = "account_state"

    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    user = relationship(User)
    #: failures since ``first_failure_at``; reset by a success or when the window has passed
    failed_attempts = Column(Integer, nullable=False, default=0)
    first_failure_at = Column(DateTime)
    #: locked until then; ``is_locked_indefinitely`` locks until an administrator unlocks
    locked_until = Column(DateTime)
    is_locked_indefinitely = Column(Boolean, nullable=False, default=False)
    password_changed_at = Column(DateTime)
    #: set for new accounts, admin-set passwords and an administrator's request
    must_change_password = Column(Boolean, nullable=False, default=False)
    #: the administrator's words shown with a requested change
    change_request_message = Column(Text)
    #: bumped to end every session of the account (password change, lock, request)
    session_epoch = Column(Integer, nullable=False, default=0)
    #: base32 TOTP secret once two-factor login is set up (a credential, stored encrypted)
    totp_secret = Column(EncryptedString("account_state.totp_secret", 64))
    #: the last time step whose code was accepted, so that a code works once
    totp_last_step = Column(Integer)

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<AccountState user {self.user_id} failures {self.failed_attempts}>"


class utc_now(FunctionElement):
    """The database's current time as naive UTC, comparable with the stored times."""

    type = DateTime()
    inherit_cache = True


@compiles(utc_now)
def _utc_now_sqlite(element, compiler, **kw):
    return "datetime('now')"


@compiles(utc_now, "postgresql")
def _utc_now_postgresql(element, compiler, **kw):
    return "timezone('utc', now())"


# Read-only lock columns on FAB's account, for the users list (its table is unchanged).
User.is_locked = column_property(
    func.coalesce(
        select(
            or_(
                AccountState.is_locked_indefinitely.is_(True),
                and_(AccountState.locked_until.is_not(None), AccountState.locked_until > utc_now()),
            )
        )
        .where(AccountState.user_id == User.id)
        .scalar_subquery(),
        false(),
    ).label("is_locked"),
)
#: when a timed lock ends (None: not locked by time; see ``is_locked`` for a lock until unlocked)
User.lock_ends_at = column_property(
    select(case((AccountState.locked_until > utc_now(), AccountState.locked_until)))
    .where(AccountState.user_id == User.id)
    .scalar_subquery()
    .label("lock_ends_at"),
)


def _role_shown(role: Role) -> str:
    from crm.security.roles import label_of_role

    return label_of_role(role.name)


# A role reads in the user's language wherever FAB prints one (forms, lists, account pages);
# its stored name stays the key.
Role.__str__ = _role_shown


class StaffSession(Model):
    """One signed-in browser session, known to the server so that signing out ends it for good.

    The cookie carries a random session id; only its SHA-256 is stored. A copy
    of the cookie taken before signing out finds its row ended and is refused.
    """

    __tablename__ = "staff_session"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    started_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)
    #: set by signing out (or by ending the account's sessions); an ended session never comes back
    ended_at = Column(DateTime, index=True)

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<StaffSession {self.id} of user {self.user_id}{' ended' if self.ended_at else ''}>"


class RoleSecurityPolicy(Model):
    """Per role: whether its members must sign in with a second factor."""

    __tablename__ = "role_security_policy"

    role_id = Column(Integer, ForeignKey("ab_role.id", ondelete="CASCADE"), primary_key=True)
    role = relationship(Role)
    requires_totp = Column(Boolean, nullable=False, default=False)

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<RoleSecurityPolicy role {self.role_id} totp {self.requires_totp}>"


class PasswordHistory(Model):
    """Hashes of an account's earlier passwords, so that none is reused."""

    __tablename__ = "password_history"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True)
    password_hash = Column(String(256), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<PasswordHistory {self.id} of user {self.user_id}>"


class LoginEvent(Model):
    """One attempt to sign in, through the form or the API, successful or not."""

    __tablename__ = "login_event"
    __table_args__ = (
        CheckConstraint("result IN (" + ", ".join(f"'{r}'" for r in LOGIN_RESULTS) + ")", name="ck_login_event_result"),
    )

    id = Column(Integer, primary_key=True)
    occurred_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    #: what was typed as the user name: may be anything, even a password typed in the wrong box
    username_tried = Column(EncryptedString("login_event.username_tried", 256))
    username_tried_bidx = Column(String(32), index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    user = relationship(User)
    #: one of LOGIN_RESULTS
    result = Column(String(20), nullable=False, index=True)
    #: ``form`` or ``api``
    channel = Column(String(10), nullable=False, default="form")
    ip_address = Column(EncryptedString("login_event.ip_address", 64))
    user_agent = Column(EncryptedString("login_event.user_agent", 512))

    __personal_data__ = PersonalData(
        description=_l("Login history of staff accounts"),
        subject=None,
        erasure=Erasure.DELETE,
        columns={
            "username_tried": Personal(ACCOUNT, blind_index="text"),
            "ip_address": Personal(ONLINE),
            "user_agent": Personal(ONLINE),
        },
    )

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<LoginEvent {self.id} {self.result}>"


class PermissionChange(Model):
    """One change of the role x permission matrix: who changed which cell from what to what, when.

    Rows are never updated or deleted; a role's id and its name at the time are
    both kept, so the record reads the same after a rename.
    """

    __tablename__ = "permission_change"

    id = Column(Integer, primary_key=True)
    changed_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    #: None for ``flask crm init`` applying a built-in role's defaults
    changed_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    changed_by = relationship(User, foreign_keys=[changed_by_id])
    role_id = Column(Integer, ForeignKey("ab_role.id", ondelete="SET NULL"), index=True)
    role_name = Column(String(64), nullable=False)
    #: ``cell``, ``role_created``, ``role_cloned`` or ``role_renamed``
    kind = Column(String(20), nullable=False)
    #: the capability key of a cell (crm.security.capabilities)
    capability = Column(String(64), index=True)
    #: a cell: ``yes``/``no``; a rename: the names; a clone: the source role's name
    before = Column(String(64))
    after = Column(String(64))
    #: a default applied by ``flask crm init``, not a decision of an administrator
    automatic = Column(Boolean, nullable=False, default=False)

    __table_args__ = (
        one_of("kind", ("cell", "role_created", "role_cloned", "role_renamed"), "ck_permission_change_kind"),
        AUTOINCREMENT,
    )

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<PermissionChange {self.id} {self.kind} role {self.role_id}>"


register_models(LoginEvent)
