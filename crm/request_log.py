"""Request logs without query strings, on every server the README offers.

gunicorn's access log format (crm/gunicorn_config.py) leaves the query out; the
development server (``flask run``, werkzeug) logs the whole request line, so its
logger gets a filter that cuts the query from whatever it writes. A searched
email or PESEL in an address (``?q=...``) therefore reaches no log.
"""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"\?\S*")


def without_query(text: str) -> str:
    """``text`` with every ``?query`` of an address cut out."""
    return _QUERY.sub("", text)


class WithoutQueryStrings(logging.Filter):
    """Cut query strings from a record's message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = without_query(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(without_query(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def init_request_log() -> None:
    """Filter the development server's request log (once a process)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(existing, WithoutQueryStrings) for existing in logger.filters):
        logger.addFilter(WithoutQueryStrings())
