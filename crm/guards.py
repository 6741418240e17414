"""Requests refused before Flask-AppBuilder reads them, where FAB itself would answer 500.

FAB turns ``page_<View>`` and ``psize_<View>`` into ints without checking,
orders by any column named in ``_oc_<View>``, hands any number to the database
as a key, parses JSON bodies and rison arguments recursively (a body nested a
thousand deep exhausts Python's stack), reads a too-large API body inside its
``safe`` decorator ("Fatal error"), and runs ``self.actions[name]`` for any
action name posted. Each of these gets a 4xx with a message here instead.
"""

from __future__ import annotations

import json
import re

import prison
from flask import current_app, request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from crm.errors import refusal

LIST_ARGUMENT_MESSAGE = _l("The page number, page size or sort order in the address is not valid.")
TOO_DEEP_MESSAGE = _l("The request nests its values too deeply.")
QUERY_MESSAGE = _l("The argument q is neither rison nor JSON.")
NOT_TEXT_MESSAGE = _l("The request holds characters that are not text (a NUL character, or a lone surrogate escape).")
#: text without the NUL character, which PostgreSQL cannot store or compare (refused on both databases)
NO_NUL = r"^[^\x00]*$"
UNKNOWN_ACTION_MESSAGE = _l("There is no such action here.")
_LIST_NUMBER_ARG = re.compile(r"(page|psize)_")
_ORDER_ARG = re.compile(r"_oc_(.*)")
#: The largest page a list may be asked for; more would let one request load the whole base.
MAX_PAGE_SIZE = 100
#: No form, filter or body of Kartoteka nests deeper than a few levels.
MAX_NESTING = 32
#: The highest page number a list may be asked for (beyond any real base).
MAX_PAGE = 10**9
#: The largest key or number PostgreSQL's integer columns hold.
MAX_DATABASE_INTEGER = 2**31 - 1
_OPENING, _CLOSING = "([{", ")]}"


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


def json_nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def bracket_nesting(text: str) -> int:
    """The deepest nesting of brackets of any kind, quotes not considered.

    For a rison or JSON query argument, whichever it is: brackets inside a
    string can only make the figure larger, never hide real nesting.
    """
    depth = deepest = 0
    for char in text:
        if char in _OPENING:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSING:
            depth -= 1
    return deepest


def _sortable_columns(view_name: str) -> set[str]:
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == view_name:
            return set(getattr(view, "order_columns", None) or ())
    return set()


def refuse_malformed_requests():
    """before_request: 404 for a key no row can have, 400 for arguments and bodies FAB would crash on, 413 for a body too large."""
    pk = (request.view_args or {}).get("pk")
    if pk is not None and str(pk).lstrip("-").isdigit() and abs(int(pk)) > MAX_DATABASE_INTEGER:
        # no row has such a key, and PostgreSQL's integer columns cannot even compare it
        raise NotFound()
    if list_argument_errors(request.args, _sortable_columns):
        raise refusal(400, LIST_ARGUMENT_MESSAGE)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()
    query = request.args.get("q")
    if query is not None:
        if bracket_nesting(query) > MAX_NESTING:
            raise refusal(400, TOO_DEEP_MESSAGE)
        normalise_query(query)
    if request.is_json:
        if json_nesting(request.get_data(as_text=True)) > MAX_NESTING:
            raise refusal(400, TOO_DEEP_MESSAGE)
        if not is_text(request.get_json(silent=True)):
            raise refusal(400, NOT_TEXT_MESSAGE)
    refuse_unknown_actions()


def is_text(value) -> bool:
    """Whether every string in a parsed JSON or rison value is Unicode text (no lone surrogate escape)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(is_text(key) and is_text(item) for key, item in value.items())
    if isinstance(value, list):
        return all(is_text(item) for item in value)
    return True


def to_rison(value) -> str:
    """``value`` in rison, every string quoted (prison's own encoder leaves some unquoted that it cannot read back)."""
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if value is None:
        return "!n"
    if isinstance(value, (int, float)):
        return json.dumps(value).replace("e+", "e")  # rison writes 1e16, not 1e+16
    if isinstance(value, str):
        return "'" + value.replace("!", "!!").replace("'", "!'") + "'"
    if isinstance(value, list):
        return "!(" + ",".join(map(to_rison, value)) + ")"
    return "(" + ",".join(f"{to_rison(str(key))}:{to_rison(item)}" for key, item in value.items()) + ")"


def normalise_query(query: str) -> None:
    """Refuse a ``q`` that is neither rison nor JSON (400); hand FAB a JSON one as rison.

    FAB decodes a JSON ``q`` a second time as a query string, so a value with
    "&", "+" or "%" in it breaks; prison raises a plain ValueError for some
    numbers ("1e+5"), which FAB answers with 500. Rison is what FAB parses
    reliably, so a JSON argument is re-encoded as rison before FAB reads it.
    """
    if "\x00" in query:
        # PostgreSQL cannot compare it, SQLite would: refused on both alike
        raise refusal(400, NOT_TEXT_MESSAGE)
    try:
        value = prison.loads(query)
    except Exception:  # noqa: BLE001 - not rison: JSON, or malformed
        try:
            value = json.loads(query)
        except ValueError:
            raise refusal(400, QUERY_MESSAGE) from None
        args = request.args.copy()
        args["q"] = to_rison(value)
        # werkzeug caches the parsed arguments on the request: FAB reads them from there
        request.args = ImmutableMultiDict(args)
    if not is_text(value):
        raise refusal(400, NOT_TEXT_MESSAGE)


def refuse_unknown_actions():
    """404 for an action name a screen does not have, or a record it does not hold.

    FAB's ``action`` and ``action_post`` look the name up and call it without
    checking (500 for anyone, anonymous visitors included).
    """
    endpoint = request.endpoint or ""
    if not endpoint.endswith((".action", ".action_post")):
        return
    view = getattr(current_app.view_functions.get(endpoint), "__self__", None)
    actions = getattr(view, "actions", None) or {}
    if endpoint.endswith(".action"):
        name, keys = request.view_args.get("name"), [request.view_args.get("pk")]
    else:
        name, keys = request.form.get("action"), request.form.getlist("rowid")
    if name not in actions or not keys:
        raise refusal(404, UNKNOWN_ACTION_MESSAGE)
    for key in keys:
        if not str(key).isdigit() or int(key) > MAX_DATABASE_INTEGER or view.datamodel.get(int(key)) is None:
            raise refusal(404, UNKNOWN_ACTION_MESSAGE)


def init_guards(app) -> None:
    """Refuse malformed requests before any view reads them."""
    app.before_request(refuse_malformed_requests)
