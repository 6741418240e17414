"""Numbers and dates read from a screen's address (filters, pages): a bad one is a 400 with a message."""

from __future__ import annotations

from datetime import date

from flask import request
from flask_babel import lazy_gettext as _l

from crm.errors import refusal

BAD_ARGUMENT_MESSAGE = _l("A page number, version or filter in the address is not valid.")


def int_arg(name: str, default: int | None = None, minimum: int = 0) -> int | None:
    """A whole number from the address, ``default`` when it is absent."""
    value = request.args.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or int(value) < minimum or int(value) > 2**62:
        raise refusal(400, BAD_ARGUMENT_MESSAGE)
    return int(value)


def date_arg(name: str) -> date | None:
    """A date (``yyyy-mm-dd``, as a date field sends it) from the address, None when absent."""
    value = request.args.get(name, "")
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise refusal(400, BAD_ARGUMENT_MESSAGE) from None


def choice_arg(name: str, choices) -> str | None:
    """One of ``choices`` from the address, None when absent."""
    value = request.args.get(name) or None
    if value is not None and value not in choices:
        raise refusal(400, BAD_ARGUMENT_MESSAGE)
    return value
