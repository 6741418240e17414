"""Search terms kept out of addresses and out of readable cookies.

A list's search form is posted; its ``_flt_*`` fields are kept in the user's
session under a random token and the list is opened as ``?_s=<token>``. Paging
and sorting links then carry only the token. Flask's session is a cookie that
is signed, not encrypted, so the kept searches (a typed PESEL or email) are
stored there as one AES-GCM ciphertext under the key ring: decoding the cookie
shows no search term. At most ``KEPT_SEARCHES`` searches are kept, fewer when
they would make the cookie too large, the oldest dropped first.
"""

from __future__ import annotations

import json
import re
import secrets

from flask import session
from werkzeug.datastructures import MultiDict

from crm.privacy.crypto import DecryptionError, decrypt, encrypt

SESSION_KEY = "crm_searches"
#: the associated data of the ciphertext: it decrypts as kept searches only
CONTEXT = "session.searches"
TOKEN_ARG = "_s"
KEPT_SEARCHES = 10
#: browsers drop cookies over 4 kB; the rest of the session needs some of it
MAX_STORED_CHARACTERS = 2400
_FILTER_ARG = re.compile(r"^_flt_\d+_[A-Za-z0-9_.]+$")


def filter_fields(form: MultiDict) -> list[tuple[str, str]]:
    """The ``_flt_<n>_<column>`` fields of a posted search form, in order."""
    return [(name, value) for name, value in form.items(multi=True) if _FILTER_ARG.match(name)]


def _kept() -> dict[str, list]:
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, str):
        return {}
    try:
        return json.loads(decrypt(stored, CONTEXT))
    except (DecryptionError, ValueError):
        # written under a key no longer configured, or not ours: the searches are gone
        return {}


def _store(kept: dict[str, list]) -> None:
    while True:
        sealed = encrypt(json.dumps(kept, ensure_ascii=False), CONTEXT)
        if len(kept) <= 1 or (len(kept) <= KEPT_SEARCHES and len(sealed) <= MAX_STORED_CHARACTERS):
            break
        kept.pop(next(iter(kept)))
    session[SESSION_KEY] = sealed


def remember(fields: list[tuple[str, str]]) -> str:
    """Keep a search in the session; returns its token."""
    kept = _kept()
    token = secrets.token_urlsafe(9)
    kept[token] = fields
    _store(kept)
    return token


def recall(token: str | None) -> MultiDict | None:
    """The search a token names, or None when the session does not hold it."""
    if not token:
        return None
    fields = _kept().get(token)
    return MultiDict([tuple(pair) for pair in fields]) if fields is not None else None


def apply_filter_fields(filters, fields: MultiDict) -> None:
    """Set FAB's filters from ``_flt_<n>_<column>`` fields (FAB reads them from the URL)."""
    filters.clear_filters()
    allowed = filters.get_search_filters().keys()
    for name in fields:
        match = re.match(r"_flt_(\d+)_(.*)", name)
        if match and match.group(2) in allowed:
            filters.add_filter_index(match.group(2), int(match.group(1)), fields.getlist(name))
