"""Optimistic locking of edited records, shared by the web forms and the REST API.

Every versioned model maps ``lock_version`` as SQLAlchemy's ``version_id_col``.
The edit form and the API send back the counter they read; a save is refused
when the row has moved on since. Two saves that pass that check at the same
moment still cannot both land: SQLAlchemy puts the counter it loaded in the
UPDATE's WHERE clause, so the second updates no row and raises
``StaleDataError``, which both entry points turn into the same message.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField

CONFLICT_MESSAGE = _l(
    "Someone else saved this record while you were editing it, so your changes "
    "were not saved. Reload the record to see the current version, then edit again."
)
MISSING_LOCK_MESSAGE = _l(
    "Send back the lock_version you read with the record, so that a concurrent "
    "change is not overwritten."
)


class LockVersionField(HiddenField):
    """The version counter the form was read at; never copied onto the record."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # FAB's form template renders HiddenFields only through hidden_tag().
        self.type = "HiddenField"

    def populate_obj(self, obj, name):  # noqa: D401 - WTForms hook
        return None


def parse_lock_version(raw) -> int | None:
    """The submitted counter as an int, or None when absent or malformed."""
    if isinstance(raw, bool):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def is_current(item, submitted: int | None) -> bool:
    """True when the counter the client read is still the record's counter."""
    return submitted is not None and submitted == item.lock_version
