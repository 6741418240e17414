"""Error answers: a translated page (or JSON under /api/), never a traceback.

Also refuses malformed arguments before FAB parses them: FAB turns
``page_<View>`` and ``psize_<View>`` into ints without checking, orders by any
column named in ``_oc_<View>``, and hands any number to the database as a key,
each of which would otherwise answer 500.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback

from flask import current_app, g, jsonify, render_template, request
from flask_login import current_user
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError, NotFound, default_exceptions

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
CSRF_MESSAGE = _l(
    "The form expired or did not come from Kartoteka, so nothing was saved. Reload the page and try again."
)
UNAVAILABLE_MESSAGE = _l(
    "The database cannot be reached right now, so nothing was saved or changed. Try again in a moment."
)
#: what the database driver raises when the server is gone, restarting, or busy (SQLite locked)
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)
LIST_ARGUMENT_MESSAGE = _l("The page number, page size or sort order in the address is not valid.")
_LIST_NUMBER_ARG = re.compile(r"(page|psize)_")
_ORDER_ARG = re.compile(r"_oc_(.*)")
#: The largest page a list may be asked for; more would let one request load the whole base.
MAX_PAGE_SIZE = 100


def list_argument_errors(args, sortable_columns=lambda view_name: set()) -> list[str]:
    """Names of list arguments FAB would fail on.

    Page and page size must be whole numbers in range; a sort column must be one
    ``sortable_columns(view_name)`` names.
    """
    bad = []
    for name, value in args.items(multi=True):
        order = _ORDER_ARG.search(name)
        if order and value not in sortable_columns(order.group(1)):
            bad.append(name)
            continue
        match = _LIST_NUMBER_ARG.search(name)
        if not match:
            continue
        if not value.isdigit() or len(value) > 9:
            bad.append(name)
        elif match.group(1) == "psize" and not 1 <= int(value) <= MAX_PAGE_SIZE:
            bad.append(name)
    return bad


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _answer(code: int, message: str):
    if _wants_json():
        return jsonify(message=message), code
    appbuilder = current_app.appbuilder
    if not hasattr(g, "user"):
        # CSRF and other early refusals happen before FAB sets g.user.
        g.user = current_user
    page = render_template(
        "error.html", code=code, message=message, appbuilder=appbuilder, base_template=appbuilder.base_template
    )
    return page, code


def handle_http_error(error: HTTPException):
    """Translated page for a 4xx; 5xx goes through handle_unexpected_error."""
    code = error.code or 500
    if isinstance(error, CSRFError):
        return _answer(400, gettext(CSRF_MESSAGE))
    if code >= 500:
        return handle_unexpected_error(error)
    description = getattr(error, "kartoteka_message", None)
    return _answer(code, description or str(MESSAGES.get(code, MESSAGES[400])))


def handle_unexpected_error(error: Exception):
    """Log the failure and answer a plain 500.

    The log names the exception type, the route and the frames, not the
    exception's message: a database error's message can quote the row's values.
    """
    original = getattr(error, "original_exception", None) or error
    frames = "".join(traceback.format_list(traceback.extract_tb(original.__traceback__)))
    log.error("unhandled %s on %s %s\n%s", type(original).__name__, request.method, request.url_rule, frames)
    return _answer(500, str(MESSAGES[500]))


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

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - the connection may be gone; the session is discarded below
        pass
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


class AnswersUnavailable:
    """For FAB REST APIs, whose ``safe`` decorator answers 500 to any exception: 503 when the database is out of reach."""

    def response_500(self, message=None, *args, **kwargs):
        cause = unavailable_cause(sys.exc_info()[1])  # FAB calls this inside its except clause
        if cause is not None:
            return handle_database_unavailable(cause)
        return super().response_500(message, *args, **kwargs)


def _sortable_columns(view_name: str) -> set[str]:
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == view_name:
            return set(getattr(view, "order_columns", None) or ())
    return set()


#: Primary keys are 32-bit or 64-bit integers; a longer number names no record.
MAX_KEY = 2**63 - 1


def refusal(status: int, message) -> HTTPException:
    """An HTTP error (400, 403, 404...) whose page or JSON answer carries this message."""
    error = default_exceptions[status]()
    error.kartoteka_message = str(message)
    return error


def refuse_malformed_arguments():
    """before_request hook: 404 for a key no row can have, 400 for list arguments FAB would crash on."""
    pk = (request.view_args or {}).get("pk")
    if pk is not None and str(pk).lstrip("-").isdigit() and abs(int(pk)) > MAX_KEY:
        raise NotFound()
    if list_argument_errors(request.args, _sortable_columns):
        raise refusal(400, LIST_ARGUMENT_MESSAGE)


def register_error_handlers(app) -> None:
    """Install the handlers and the list-argument guard on the app."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(InternalServerError, handle_unexpected_error)
    for error in UNAVAILABLE_ERRORS:
        app.register_error_handler(error, handle_database_unavailable)
    app.before_request(refuse_malformed_arguments)
