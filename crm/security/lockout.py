"""Account state (failures, lockout, password and session markers) and the login history.

Counters live in the database (never in process memory), so every worker on
every host sees the same count; each failure is counted by one atomic UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, request
from flask_babel import gettext, ngettext
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm.accountability import trail
from crm.security.models import AccountState, LoginEvent
from crm.timeutil import utcnow


@dataclass(frozen=True)
class LockoutPolicy:
    """After ``attempts`` failures within ``window``, lock for ``duration`` (None: until unlocked)."""

    attempts: int
    window: timedelta
    duration: timedelta | None

    @classmethod
    def from_config(cls, config) -> "LockoutPolicy":
        minutes = int(config["CRM_LOCKOUT_MINUTES"])
        return cls(
            attempts=int(config["CRM_LOCKOUT_ATTEMPTS"]),
            window=timedelta(minutes=int(config["CRM_LOCKOUT_WINDOW_MINUTES"])),
            duration=timedelta(minutes=minutes) if minutes > 0 else None,
        )


def refusal_message(config) -> str:
    """The one answer to every refused login, saying what repeated failures do and whom to ask.

    Wrong password, unknown user and locked account get the same words, so the
    answer does not tell an attacker which it was; a person locked out learns
    how long it lasts and where to turn.
    """
    policy = LockoutPolicy.from_config(config)
    failures = ngettext(
        "After %(num)d failed attempt within %(window)d minutes the account is locked",
        "After %(num)d failed attempts within %(window)d minutes the account is locked",
        policy.attempts,
        window=int(policy.window.total_seconds() // 60),
    )
    if policy.duration is None:
        duration = gettext("until an administrator unlocks it")
    else:
        duration = ngettext("for %(num)d minute", "for %(num)d minutes", int(policy.duration.total_seconds() // 60))
    contact = (config.get("CRM_ACCOUNT_CONTACT") or "").strip()
    if contact:
        help_text = gettext("If you are locked out or forgot your password, contact: %(contact)s.", contact=contact)
    else:
        help_text = gettext("If you are locked out or forgot your password, ask your administrator.")
    return gettext(
        "Wrong user name or password, or the account cannot sign in now. %(failures)s %(duration)s. %(help)s",
        failures=failures,
        duration=duration,
        help=help_text,
    )


def is_locked(state: AccountState | None, now: datetime) -> bool:
    """True while the account may not sign in."""
    if state is None:
        return False
    return bool(state.is_locked_indefinitely or (state.locked_until and state.locked_until > now))


def update_state(session, user_id: int, *, commit: bool = True, **values) -> None:
    """Set columns of the account's state row, creating the row first if it is missing.

    Values may be SQL expressions (``AccountState.session_epoch + 1``), so every
    change is one atomic UPDATE whichever worker makes it.
    """
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(AccountState).values(user_id=user_id, failed_attempts=0).on_conflict_do_nothing())
    session.execute(update(AccountState).where(AccountState.user_id == user_id).values(**values))
    if commit:
        session.commit()


def state_of(session, user_id: int) -> AccountState | None:
    """The account's lockout state as stored now (not a cached copy)."""
    return session.execute(
        select(AccountState).where(AccountState.user_id == user_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def register_failure(session, user_id: int, policy: LockoutPolicy, now: datetime) -> bool:
    """Count one failed attempt; lock when the policy says so. Returns True if now locked."""
    window_start = now - policy.window
    expired = (AccountState.first_failure_at.is_(None)) | (AccountState.first_failure_at < window_start)
    update_state(
        session,
        user_id,
        commit=False,
        failed_attempts=case((expired, 1), else_=AccountState.failed_attempts + 1),
        first_failure_at=case((expired, now), else_=AccountState.first_failure_at),
    )
    state = state_of(session, user_id)
    locked = state.failed_attempts >= policy.attempts
    if locked:
        if policy.duration is None:
            state.is_locked_indefinitely = True
        else:
            state.locked_until = now + policy.duration
        state.failed_attempts = 0
        state.first_failure_at = None
    session.commit()
    return locked


def spend_like_a_failure(session, policy: LockoutPolicy, now: datetime) -> None:
    """Run the statements of :func:`register_failure` on no row.

    Refusals that count nothing (unknown user, locked account) then cost about
    what a wrong password costs; bench/login_timing.py measures what is left.
    """
    window_start = now - policy.window
    expired = (AccountState.first_failure_at.is_(None)) | (AccountState.first_failure_at < window_start)
    session.execute(
        update(AccountState)
        .where(AccountState.user_id == -1)
        .values(
            failed_attempts=case((expired, 1), else_=AccountState.failed_attempts + 1),
            first_failure_at=case((expired, now), else_=AccountState.first_failure_at),
        )
    )
    state_of(session, -1)
    session.commit()


def register_success(session, user_id: int) -> None:
    """A successful login clears the failure count."""
    update_state(session, user_id, failed_attempts=0, first_failure_at=None)


def lock(session, user_id: int) -> None:
    """Lock an account until an administrator unlocks it; its sessions end."""
    update_state(session, user_id, is_locked_indefinitely=True, session_epoch=AccountState.session_epoch + 1)


def unlock(session, user_id: int) -> None:
    """Lift a lock and clear the failure count."""
    update_state(session, user_id, is_locked_indefinitely=False, locked_until=None, failed_attempts=0, first_failure_at=None)


def record_login(session, *, username_tried: str, user, result: str) -> None:
    """Add an entry to the login history of this request's attempt, with its address and browser.

    The name typed and the browser's own name are kept to their fields' lengths: a form takes any."""
    session.add(LoginEvent(  # at the time of its insert, by default
        username_tried=username_tried[:256],
        user_id=user.id if user is not None else None,
        result=result,
        channel="api" if request.path.startswith("/api/") else "form",
        ip_address=request.remote_addr,
        user_agent=request.user_agent.string[:512] or None,
    ))
    session.commit()


def purge_login_events(session, now: datetime | None = None) -> int:
    """Delete login history older than ``CRM_LOGIN_HISTORY_DAYS``; returns how many."""
    days = int(current_app.config["CRM_LOGIN_HISTORY_DAYS"])
    cutoff = (now or utcnow()) - timedelta(days=days)
    old = LoginEvent.occurred_at < cutoff
    links = trail.removing(session.connection(), LoginEvent.__table__, old)
    result = session.execute(delete(LoginEvent).where(old))
    trail.append(session.connection(), links)
    session.commit()
    return result.rowcount
