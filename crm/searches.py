"""Search terms kept out of addresses.

A list's search form is posted; its ``_flt_*`` fields are kept in the user's
session under a random token and the list is opened as ``?_s=<token>``. Paging
and sorting links then carry only the token. At most ``KEPT_SEARCHES`` searches
are kept per session, the oldest dropped first.
"""

from __future__ import annotations

import re
import secrets

from flask import session
from werkzeug.datastructures import MultiDict

SESSION_KEY = "crm_searches"
TOKEN_ARG = "_s"
KEPT_SEARCHES = 20
_FILTER_ARG = re.compile(r"^_flt_\d+_[A-Za-z0-9_.]+$")


def filter_fields(form: MultiDict) -> list[tuple[str, str]]:
    """The ``_flt_<n>_<column>`` fields of a posted search form, in order."""
    return [(name, value) for name, value in form.items(multi=True) if _FILTER_ARG.match(name)]


def remember(fields: list[tuple[str, str]]) -> str:
    """Keep a search in the session; returns its token."""
    kept = dict(session.get(SESSION_KEY, {}))
    token = secrets.token_urlsafe(9)
    kept[token] = fields
    while len(kept) > KEPT_SEARCHES:
        kept.pop(next(iter(kept)))
    session[SESSION_KEY] = kept
    return token


def recall(token: str | None) -> MultiDict | None:
    """The search a token names, or None when the session does not hold it."""
    if not token:
        return None
    fields = session.get(SESSION_KEY, {}).get(token)
    return MultiDict([tuple(pair) for pair in fields]) if fields is not None else None


def apply_filter_fields(filters, fields: MultiDict) -> None:
    """Set FAB's filters from ``_flt_<n>_<column>`` fields (FAB reads them from the URL)."""
    filters.clear_filters()
    allowed = filters.get_search_filters().keys()
    for name in fields:
        match = re.match(r"_flt_(\d+)_(.*)", name)
        if match and match.group(2) in allowed:
            filters.add_filter_index(match.group(2), int(match.group(1)), fields.getlist(name))
