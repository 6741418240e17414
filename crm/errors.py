"""Error answers: a translated page (or JSON under /api/), never a traceback.

Requests FAB would crash on are refused earlier, in :mod:`crm.guards`.
"""

from __future__ import annotations

import logging
import sys

from flask import current_app, g, jsonify, render_template, request
from flask_appbuilder.exceptions import ApplyFilterException
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request was malformed. Go back, check what you entered and try again."),
    401: _l("Sign in to continue."),
    403: _l("Your role does not allow this. Ask an administrator if you need it."),
    404: _l("There is no such page or record. It may have been deleted."),
    405: _l("This address does not accept that kind of request."),
    409: _l("The record changed meanwhile. Reload it and try again."),
    413: _l("What you sent is too large."),
    422: _l("Some of the values cannot be accepted."),
    429: _l("Too many attempts. Wait a minute and try again."),
    500: _l("Something went wrong on our side and nothing was saved. Try again; if it happens again, tell your administrator."),
}
TOKEN_MESSAGE = _l("The access token is missing, malformed, expired or no longer valid. Sign in again.")
CSRF_MESSAGE = _l(
    "The form expired or did not come from Kartoteka, so nothing was saved. Reload the page and try again."
)
UNAVAILABLE_MESSAGE = _l(
    "The database cannot be reached right now, so nothing was saved or changed. Try again in a moment."
)
#: what the database driver raises when the server is gone, restarting, or busy (SQLite locked)
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)
def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _answer(code: int, message: str, headers=()):
    headers = [(name, value) for name, value in headers if name != "Content-Type"]
    if _wants_json():
        return jsonify(message=message), code, headers
    appbuilder = current_app.appbuilder
    if not hasattr(g, "user"):
        # CSRF and other early refusals happen before FAB sets g.user.
        g.user = current_user
    page = render_template(
        "error.html", code=code, message=message, appbuilder=appbuilder, base_template=appbuilder.base_template
    )
    return page, code, headers


def handle_http_error(error: HTTPException):
    """Translated page for a 4xx; 5xx goes through handle_unexpected_error."""
    code = error.code or 500
    if isinstance(error, CSRFError):
        return _answer(400, gettext(CSRF_MESSAGE))
    if code >= 500:
        return handle_unexpected_error(error)
    description = getattr(error, "kartoteka_message", None)
    # a 405 names the methods the address accepts (Allow), a 429 when to come back
    return _answer(code, description or str(MESSAGES.get(code, MESSAGES[400])), error.get_headers())


def handle_unexpected_error(error: Exception):
    """Log the failure and answer a plain 500.

    The log names the route and the traceback, not the exception's message (a
    database error's message can quote the row's values: crm.log_privacy).
    """
    original = getattr(error, "original_exception", None) or error
    log.error("unhandled error on %s %s", request.method, request.url_rule, exc_info=original)
    _roll_back()  # the page's menu reads the database, which refuses a session whose flush failed
    return _answer(500, str(MESSAGES[500]))


def _roll_back() -> None:
    """End the request's transaction, so that nothing a failed request wrote stays pending."""
    from crm.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be gone; the caller answers anyway
        pass


def unavailable_cause(error: BaseException | None) -> BaseException | None:
    """The error in ``error``'s chain saying the database cannot be reached (rather than refusing the data), if any."""
    while error is not None:
        if isinstance(error, UNAVAILABLE_ERRORS):
            return error
        error = error.__cause__
    return None


def raise_if_unavailable(error: BaseException) -> None:
    """Re-raise the database's own error when ``error`` wraps one saying it is out of reach.

    FAB wraps database errors in its own exception and answers "save failed";
    unwrapped, the error reaches :func:`handle_database_unavailable` (503).
    """
    cause = unavailable_cause(error)
    if cause is not None:
        raise cause from None


def handle_database_unavailable(error: Exception):
    """503 with a page that needs no database (the menu would ask it for permissions).

    The transaction is rolled back, so a save or an erasure cut short leaves
    nothing half-written; the pool drops the dead connection and the next
    request gets a fresh one.
    """
    from crm.extensions import db

    _roll_back()
    db.session.remove()
    log.error("database unavailable (%s) on %s %s", type(error).__name__, request.method, request.url_rule)
    message = gettext(UNAVAILABLE_MESSAGE)
    if _wants_json():
        return jsonify(message=message), 503
    # Not render_template: its context processors load the signed-in user from the database.
    page = current_app.jinja_env.get_template("unavailable.html").render(
        message=message, lang=str(get_locale() or "pl")
    )
    return page, 503, {"Retry-After": "10"}


OUT_OF_RANGE_MESSAGE = _l("A value is out of the range the database can store or compare.")
BAD_FILTER_MESSAGE = _l("A search value does not fit its field (for example text where a record is chosen). Search again.")


class AnswersUnavailable:
    """For FAB REST APIs, whose ``safe`` decorator answers 500 to any exception.

    503 when the database is out of reach; the HTTP error itself when one was
    raised inside (a body too large is 413, not "Fatal error"); 400 when the
    database refused a value it cannot compare (a number out of its range).
    """

    def response_500(self, message=None, *args, **kwargs):
        error = sys.exc_info()[1]  # FAB calls this inside its except clause
        cause = unavailable_cause(error)
        if cause is not None:
            return handle_database_unavailable(cause)
        if isinstance(error, HTTPException) and error.code and error.code < 500:
            return handle_http_error(error)
        if isinstance(error, (DataError, OverflowError, ApplyFilterException)):
            from crm.extensions import db

            db.session.rollback()
            message = BAD_FILTER_MESSAGE if isinstance(error, ApplyFilterException) else OUT_OF_RANGE_MESSAGE
            return _answer(400, str(message))
        return super().response_500(message, *args, **kwargs)


def refusal(status: int, message) -> HTTPException:
    """An HTTP error (400, 403, 404...) whose page or JSON answer carries this message."""
    error = default_exceptions[status]()
    error.kartoteka_message = str(message)
    return error


def register_error_handlers(app) -> None:
    """Install the handlers on the app."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_unexpected_error)
    for error in UNAVAILABLE_ERRORS:
        app.register_error_handler(error, handle_database_unavailable)
