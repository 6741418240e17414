"""What may reach a log: no query string of an address, no exception's own message.

gunicorn's access log format (crm/gunicorn_config.py) leaves the query out; the
development server (``flask run``, werkzeug) logs the whole request line, so its
logger gets a filter that cuts the query from whatever it writes. A searched
email or PESEL in an address (``?q=...``) therefore reaches no log.

An exception's message can quote data: PostgreSQL's detail of a failed constraint
quotes the row or the key (``Key (email)=(jan@example.com) already exists``), a
parsing error the text it could not parse. Libraries log exceptions their own way
(FAB's model interface logs each database error with its traceback, its API each
error it answers 500 to), so every record any logger of the process makes goes
through :func:`without_exception_messages`: an exception in it, logged or an
argument, keeps its type, its frames and what names the schema (the SQLSTATE,
the constraint), not its message.

Two libraries name people in their own lines: FAB's security manager names accounts
("Updated user Jan Kowalski" at every sign-in, "Added user jan"), Flask-Limiter the
client's address its key holds ("ratelimit 3 per 1 hour (192.0.2.7) exceeded"). A
record of their loggers keeps its words and loses its arguments (:data:`NAMING_LOGGERS`).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections import defaultdict

_QUERY = re.compile(r"\?\S*")
WITHHELD = "message withheld: it can quote personal data"
#: loggers whose arguments name people: staff accounts (FAB), a client's network address (the limiter's key)
NAMING_LOGGERS = ("flask_appbuilder.security.", "flask-limiter")
WITHHELD_ARGUMENT = "(withheld)"


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


def described(error: BaseException) -> str:
    """``error`` as a log may name it: its type and, for a database error, what names the schema.

    >>> described(ValueError("jan@example.com"))
    'ValueError (message withheld: it can quote personal data)'
    """
    names = [type(error).__name__]
    driver_error = getattr(error, "orig", None)
    if isinstance(driver_error, BaseException):
        names.append(type(driver_error).__name__)
        code = getattr(driver_error, "sqlstate", None) or getattr(driver_error, "sqlite_errorname", None)
        constraint = getattr(getattr(driver_error, "diag", None), "constraint_name", None)
        names += [f"{label} {value}" for label, value in (("code", code), ("constraint", constraint)) if value]
    return f"{', '.join(names)} ({WITHHELD})"


def traceback_without_messages(error: BaseException) -> str:
    """``error``'s traceback as Python prints it, chained errors included, each message withheld."""
    lines: list[str] = []
    seen: set[int] = set()

    def add(current: BaseException) -> None:
        seen.add(id(current))
        cause, context = current.__cause__, current.__context__
        if cause is not None and id(cause) not in seen:
            add(cause)
            lines.append("\nThe above exception was the direct cause of the following exception:\n\n")
        elif context is not None and not current.__suppress_context__ and id(context) not in seen:
            add(context)
            lines.append("\nDuring handling of the above exception, another exception occurred:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        lines.append(described(current) + "\n")

    add(error)
    return "".join(lines).rstrip("\n")


def without_exception_messages(record: logging.LogRecord) -> logging.LogRecord:
    """``record`` with every exception in it (its message, an argument, its ``exc_info``) described
    by :func:`described` and its traceback by :func:`traceback_without_messages`; a record of
    :data:`NAMING_LOGGERS` without its arguments."""
    if record.name.startswith(NAMING_LOGGERS) and record.args:
        record.args = (tuple(WITHHELD_ARGUMENT for _ in record.args) if isinstance(record.args, tuple)
                       else defaultdict(lambda: WITHHELD_ARGUMENT))
    if isinstance(record.msg, BaseException):
        record.msg = described(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(described(arg) if isinstance(arg, BaseException) else arg for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: described(arg) if isinstance(arg, BaseException) else arg
                       for key, arg in record.args.items()}
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = traceback_without_messages(record.exc_info[1])
        record.exc_info = None
    return record


def _records_without_exception_messages(make_record):
    def make(*args, **kwargs):
        return without_exception_messages(make_record(*args, **kwargs))

    make.withholds_exception_messages = True
    return make


def init_log_privacy() -> None:
    """Filter the development server's request log and every record's exceptions (once a process)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(existing, WithoutQueryStrings) for existing in logger.filters):
        logger.addFilter(WithoutQueryStrings())
    current = logging.getLogRecordFactory()
    if not getattr(current, "withholds_exception_messages", False):
        logging.setLogRecordFactory(_records_without_exception_messages(current))
