"""Browser sessions: idle and absolute timeouts, ending other sessions, the forced password change.

Each signed-in session carries when it started, when it was last used and the
account's session epoch at sign-in. Changing the password, an administrator's
lock or request bumps the epoch, which ends every other session of the account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, flash, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext
from flask_login import current_user, logout_user, user_logged_in, user_logged_out
from sqlalchemy import select, update

from crm.security import lockout
from crm.security.passwords import must_change_password, password_expires_at
from crm.timeutil import utcnow

STARTED, LAST_SEEN, EPOCH, WARNED = "crm_started_at", "crm_last_seen_at", "crm_epoch", "crm_expiry_warned"
#: the random id naming the session's row on the server (crm.security.models.StaffSession)
SESSION_ID = "crm_sid"
#: how stale the server's "last seen" may get before a request refreshes it (one write a minute, not one a request)
LAST_SEEN_PRECISION = timedelta(minutes=1)
#: set at sign-in while the one-time code is still to be given
SECOND_FACTOR_PENDING = "crm_second_factor_pending"
#: What a session waiting for its one-time code may open.
OPEN_DURING_SECOND_FACTOR = {
    "static",
    "appbuilder.static",
    "AuthDBView.logout",
    "LocaleView.index",
    "TwoFactorView.verify",
    "TwoFactorView.setup",
}
#: What an account that must change its password may still open.
OPEN_DURING_CHANGE = {
    "static",
    "appbuilder.static",
    "AuthDBView.login",
    "AuthDBView.logout",
    "LocaleView.index",
    "ResetMyPasswordView.this_form_get",
    "ResetMyPasswordView.this_form_post",
}


def _stamp(moment: datetime) -> float:
    return moment.timestamp()


def _moment(stamp) -> datetime | None:
    return datetime.fromtimestamp(stamp) if isinstance(stamp, (int, float)) else None


def _token_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(sender, user, **extra) -> None:
    """Flask-Login signal: a form login opened a session; the server records it."""
    from crm.extensions import db
    from crm.security.models import StaffSession
    from crm.security.two_factor import needs_second_factor

    state = lockout.state_of(db.session, user.id)
    session_id = secrets.token_urlsafe(32)
    db.session.add(StaffSession(user_id=user.id, token_hash=_token_hash(session_id)))  # started and seen now, by default
    db.session.commit()
    session[SESSION_ID] = session_id
    session[STARTED] = session[LAST_SEEN] = _stamp(utcnow())
    session[EPOCH] = state.session_epoch if state else 0
    session.pop(WARNED, None)
    if needs_second_factor(db.session, user, state):
        session[SECOND_FACTOR_PENDING] = True


def adopt_current_epoch(user_id: int) -> None:
    """Keep this session alive after its own password change ended the others (which wrote the account's state)."""
    from crm.extensions import db

    session[EPOCH] = lockout.state_of(db.session, user_id).session_epoch


def end_server_session(sender=None, user=None, **extra) -> None:
    """Flask-Login signal (and :func:`end_session`): the session's row is ended, so no copy of its cookie works again."""
    from crm.extensions import db
    from crm.security.models import StaffSession

    session_id = session.pop(SESSION_ID, None)
    if not session_id:
        return
    db.session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == _token_hash(session_id))
        .values(ended_at=utcnow())
    )
    db.session.commit()


def end_session(message: str):
    """Sign out, forget the session and send the browser to the login page."""
    logout_user()
    end_server_session()
    session.clear()
    flash(message, "warning")
    return redirect(url_for("AuthDBView.login"))


def enforce_session_rules():
    """before_request: time out, end superseded sessions, hold an account to its password change."""
    if request.path.startswith("/api/") or not current_user.is_authenticated:
        return None
    from crm.extensions import db

    config = current_app.config
    now = utcnow()
    started, last_seen = _moment(session.get(STARTED)), _moment(session.get(LAST_SEEN))
    if started is None or last_seen is None:
        return end_session(gettext("Please sign in again."))
    if now - last_seen > timedelta(minutes=int(config["CRM_SESSION_IDLE_MINUTES"])):
        return end_session(gettext("You were signed out after a period of inactivity."))
    if now - started > timedelta(hours=int(config["CRM_SESSION_MAX_HOURS"])):
        return end_session(gettext("Your session has reached its maximum length; please sign in again."))
    if not _server_session_lives(db.session, now, config):
        return end_session(gettext("Please sign in again."))
    state = lockout.state_of(db.session, current_user.id)
    if state is not None and session.get(EPOCH) != state.session_epoch:
        return end_session(gettext("Your session was ended because your password or access changed."))
    session[LAST_SEEN] = _stamp(now)
    if session.get(SECOND_FACTOR_PENDING):
        if request.endpoint in OPEN_DURING_SECOND_FACTOR:
            return None
        target = "TwoFactorView.verify" if state is not None and state.totp_secret else "TwoFactorView.setup"
        return redirect(url_for(target))
    max_age = int(config["CRM_PASSWORD_MAX_AGE_DAYS"])
    if must_change_password(state, now, max_age):
        if request.endpoint in OPEN_DURING_CHANGE:
            return None
        if state.change_request_message:
            flash(gettext("An administrator asks you to change your password: %(message)s", message=state.change_request_message), "warning")
        else:
            flash(gettext("Choose a new password before you continue."), "warning")
        return redirect(url_for("ResetMyPasswordView.this_form_get"))
    expires = password_expires_at(state, max_age)
    if expires is not None and not session.get(WARNED) and expires - now <= timedelta(days=int(config["CRM_PASSWORD_WARN_DAYS"])):
        session[WARNED] = True
        flash(gettext("Your password expires in %(days)d days; change it under My account.", days=max((expires - now).days, 0)), "info")
    return None


def _server_session_lives(db_session, now: datetime, config) -> bool:
    """Whether the server still knows this session as open and recently used (refreshing its "last seen")."""
    from crm.security.models import StaffSession

    session_id = session.get(SESSION_ID)
    if not session_id:
        return False
    row = db_session.scalar(select(StaffSession).where(StaffSession.token_hash == _token_hash(session_id)))
    if row is None or row.ended_at is not None or row.user_id != current_user.id:
        return False
    if now - row.last_seen_at > timedelta(minutes=int(config["CRM_SESSION_IDLE_MINUTES"])):
        return False
    if now - row.last_seen_at > LAST_SEEN_PRECISION:
        row.last_seen_at = now
        db_session.commit()
    return True


def purge_sessions(db_session, now: datetime | None = None) -> int:
    """Delete the records of sessions that ended or could no longer be used; returns how many."""
    from sqlalchemy import delete, or_

    from crm.security.models import StaffSession

    now = now or utcnow()
    oldest_usable = now - timedelta(hours=int(current_app.config["CRM_SESSION_MAX_HOURS"]))
    result = db_session.execute(
        delete(StaffSession).where(or_(StaffSession.ended_at.is_not(None), StaffSession.started_at < oldest_usable))
    )
    db_session.commit()
    return result.rowcount


class ApiWithoutCookies(SecureCookieSessionInterface):
    """The REST API never reads or writes the session cookie: a token is its only credential.

    FAB lets some of its own endpoints (the OpenAPI document, the menu) accept
    the browser's cookie; with no session under ``/api/``, none can.
    """

    def open_session(self, app, request):
        if request.path.startswith("/api/"):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith("/api/"):
            return None
        return super().save_session(app, session, response)


def init_sessions(app) -> None:  # pragma: no mutate block (runs at import or app creation)
    """Keep the API away from cookies; connect the sign-in and sign-out signals and the per-request rules."""
    app.session_interface = ApiWithoutCookies()
    user_logged_in.connect(start_session, app)
    user_logged_out.connect(end_server_session, app)
    app.before_request(enforce_session_rules)
