"""Rate limits beyond FAB's form login: the API login per address, API reads per account.

The counters live in the limiter's storage (``RATELIMIT_STORAGE_URI``: memory
on the embedded default, Redis when several workers share them).
"""

from __future__ import annotations

from flask import current_app, request
from flask_appbuilder.api import BaseApi
from flask_limiter.util import get_remote_address


def api_account_key() -> str:
    """The account a valid token names, else the client's address: reads are counted per account.

    The token's signature and expiry are checked without asking the database
    (the view loads the account itself).
    """
    from flask_jwt_extended import decode_token
    from flask_jwt_extended.exceptions import JWTExtendedException
    from jwt import PyJWTError

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Bearer" and token:
        try:
            return f"account:{decode_token(token)['sub']}"
        except (PyJWTError, JWTExtendedException, KeyError):
            pass
    return f"address:{get_remote_address()}"


def _api_read_limit() -> str:
    return current_app.config["CRM_API_READ_RATE_LIMIT"]


def _is_not_a_read() -> bool:
    """A POST that writes (not a posted search) is not counted as a read."""
    return request.method == "POST" and not request.path.endswith("/_search")


def init_rate_limits(app, appbuilder) -> None:  # pragma: no mutate block (runs at import or app creation)
    """Limit the API login per address (FAB limits only the form) and API reads per account.

    Reads are limited because every list query with a filter is a question
    about the data ("is there a client with this PESEL?"); a role may ask only
    so many of them an hour.
    """
    limiter = appbuilder.sm.limiter
    if app.config.get("AUTH_RATE_LIMITED"):
        limiter.limit(app.config["AUTH_RATE_LIMIT"], methods=["POST"])(app.blueprints["SecurityApi"])
    for view in appbuilder.baseviews:
        if isinstance(view, BaseApi) and view.blueprint.name in app.blueprints and view.blueprint.name != "SecurityApi":
            # one count per account across every API and endpoint (a list, a record, a posted search)
            limiter.shared_limit(_api_read_limit, scope="api-read", key_func=api_account_key, methods=["GET", "POST"],
                                 exempt_when=_is_not_a_read)(app.blueprints[view.blueprint.name])
