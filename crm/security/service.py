"""Operations on roles and accounts: built-in roles, the first admin, password history and requests."""

from __future__ import annotations

import logging
import secrets

from flask import current_app, g, has_request_context

from crm.extensions import appbuilder, db
from crm.security import matrix
from crm.security.roles import ADMINISTRATOR, BUILTIN_ROLES

log = logging.getLogger(__name__)

FIRST_ADMIN_USERNAME = "admin"


def ensure_builtin_roles() -> None:
    """Create any missing built-in role (before FAB grants new permissions to its admin)."""
    sm = appbuilder.sm
    for name in BUILTIN_ROLES:
        if sm.find_role(name) is None:
            sm.add_role(name)


def converge_builtin_roles() -> dict[str, int]:
    """Apply the built-in roles' defaults to every cell no administrator has decided.

    Returns the number of capabilities each built-in role holds afterwards.
    """
    counts = matrix.converge_builtin_roles(db.session)
    log.info("built-in roles converged: %s", counts)
    return counts


def generate_password() -> str:
    """A random password of 24 URL-safe characters."""
    return secrets.token_urlsafe(18)


def create_first_admin(password: str | None = None) -> tuple[object, bool, str | None]:
    """Create the first administrator unless an account holds the administrator role.

    Returns the user, whether it was created now, and the password when it was
    generated here (to be shown once).
    """
    sm = appbuilder.sm
    admin_role = sm.find_role(ADMINISTRATOR)
    administrator = db.session.scalars(
        db.select(sm.user_model).where(sm.user_model.roles.contains(admin_role)).order_by(sm.user_model.id).limit(1)
    ).first()
    if administrator is not None:
        return administrator, False, None
    email = current_app.config["CRM_ADMIN_EMAIL"]
    # both are unique: an account without the role holding either would make add_user fail
    if sm.find_user(username=FIRST_ADMIN_USERNAME) is not None or sm.find_user(email=email) is not None:
        raise FirstAdminNameTaken(FIRST_ADMIN_USERNAME)
    generated = password is None
    password = password or generate_password()

    user = sm.add_user(
        username=FIRST_ADMIN_USERNAME,
        first_name="Administrator",
        last_name="Kartoteka",
        email=email,
        role=admin_role,
        password=password,
        # a generated password was shown on a screen: the administrator replaces it
        must_change_password=generated,
    )
    if not user:
        raise RuntimeError("The first administrator could not be created.")
    return user, True, password if generated else None


class FirstAdminNameTaken(RuntimeError):
    """No account holds the administrator role, and the first administrator's user name or address is taken."""


class PasswordPolicyError(ValueError):
    """A new password breaks the policy; ``problems`` says what to fix."""

    def __init__(self, problems):
        self.problems = [str(problem) for problem in problems]
        super().__init__(" ".join(self.problems))


def password_problems_for(password: str, *, user=None, username=None, email=None, names=()) -> list:
    """The policy's objections to ``password`` for an account (existing ``user`` or new values)."""
    from werkzeug.security import check_password_hash

    from crm.security.models import PasswordHistory
    from crm.security.passwords import password_problems, personal_words

    config = current_app.config
    if user is not None:
        username, email, names = user.username, user.email, (user.first_name, user.last_name)
    recent: list[str] = []
    if user is not None and user.id is not None:
        limit = int(config["CRM_PASSWORD_HISTORY"])
        recent = list(
            db.session.scalars(
                db.select(PasswordHistory.password_hash)
                .where(PasswordHistory.user_id == user.id)
                .order_by(PasswordHistory.created_at.desc(), PasswordHistory.id.desc())
                .limit(limit)
            )
        )
        if user.password and user.password not in recent:
            recent.append(user.password)
    return password_problems(
        password,
        min_length=int(config["CRM_PASSWORD_MIN_LENGTH"]),
        min_score=int(config["CRM_PASSWORD_MIN_SCORE"]),
        personal_words=personal_words(username, email, *names),
        matches_recent=lambda candidate: any(check_password_hash(h, candidate) for h in recent),
        own=user is not None and has_request_context() and getattr(getattr(g, "user", None), "id", None) == user.id,
    )


def remember_password(user, *, must_change: bool) -> None:
    """Keep the new password's hash in the history, note when it changed, end the account's
    other sessions; ``must_change`` makes the user choose another at the next login."""
    from crm.security.lockout import update_state
    from crm.security.models import AccountState, PasswordHistory
    from crm.timeutil import utcnow

    now = utcnow()
    db.session.add(PasswordHistory(user_id=user.id, password_hash=user.password, created_at=now))
    update_state(
        db.session,
        user.id,
        password_changed_at=now,
        must_change_password=must_change,
        change_request_message=None,
        session_epoch=AccountState.session_epoch + 1,
    )


def request_password_change(users, message: str | None) -> int:
    """Ask each account to choose a new password at its next login; ends its sessions."""
    from crm.security.lockout import update_state
    from crm.security.models import AccountState

    for user in users:
        update_state(
            db.session,
            user.id,
            commit=False,
            must_change_password=True,
            change_request_message=message or None,
            session_epoch=AccountState.session_epoch + 1,
        )
    db.session.commit()
    return len(users)


def has_acted(session, user_id: int) -> bool:
    """Whether history, notes, client ownership or an accountability record (GDPR events, permission
    changes, logins, openings of data) name this account: deleting it would rewrite them."""
    from sqlalchemy_continuum import versioning_manager

    from crm.accountability.models import ReadAccess
    from crm.clients.models import Client, Note
    from crm.gdpr.models import GdprEvent
    from crm.security.models import LoginEvent, PermissionChange

    transaction_cls = versioning_manager.transaction_cls
    checks = (
        db.select(transaction_cls.id).where(transaction_cls.user_id == user_id),
        db.select(Note.id).where(Note.author_id == user_id),
        db.select(Client.id).where(Client.owner_id == user_id),
        db.select(PermissionChange.id).where(PermissionChange.changed_by_id == user_id),
        db.select(GdprEvent.id).where(GdprEvent.user_id == user_id),
        db.select(LoginEvent.id).where(LoginEvent.user_id == user_id),
        db.select(ReadAccess.id).where(ReadAccess.user_id == user_id),
    )
    return any(session.execute(check.limit(1)).first() is not None for check in checks)
