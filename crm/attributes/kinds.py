"""The kinds of attribute values: parsing, storing and showing them. Pure functions.

Every entry point (the card's form, the REST API, an import row) passes a raw
value through :func:`parse`, which returns the stored text or a translated
message; nothing else decides what a valid value is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

from crm.clients.validation import is_valid_email, is_valid_phone

KIND_LABELS = {
    "text": _l("Short text"),
    "long_text": _l("Long text"),
    "integer": _l("Whole number"),
    "decimal": _l("Decimal number"),
    "date": _l("Date"),
    "boolean": _l("Yes/no"),
    "choice": _l("One of a list"),
    "multi_choice": _l("Several of a list"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "url": _l("Web address (URL)"),
}
KINDS = tuple(KIND_LABELS)
#: kinds whose definition needs a list of choices
CHOICE_KINDS = ("choice", "multi_choice")
MAX_LENGTH = {"text": 500, "long_text": 5000, "email": 254, "phone": 32, "url": 2000}

REQUIRED_MESSAGE = _l("This value is required.")
TOO_LONG_MESSAGE = _l("At most %(max)d characters.")
INTEGER_MESSAGE = _l("Enter a whole number, e.g. 42.")
DECIMAL_MESSAGE = _l("Enter a number, e.g. 12,50.")
DATE_MESSAGE = _l("Enter a date as YYYY-MM-DD or DD.MM.YYYY.")
#: the ways a date is typed: ISO, and as Polish writes it
DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")
BOOLEAN_MESSAGE = _l("Enter yes or no.")
#: without the value: it may be anything typed, and an import's report is kept (crm/imports/jobs.py)
CHOICE_MESSAGE = _l("Choose from the list: %(choices)s.")
EMAIL_MESSAGE = _l("Enter a valid email address.")
PHONE_MESSAGE = _l("Enter a phone number: 7 to 15 digits, optionally with +, spaces or dashes.")
URL_MESSAGE = _l("Enter a web address starting with http:// or https://.")
TEXT_MESSAGE = _l("Enter text.")

_TRUE = {"1", "true", "yes", "y", "tak", "t", "on", "prawda"}
_FALSE = {"0", "false", "no", "n", "nie", "off", "fałsz"}


@dataclass(frozen=True)
class Spec:
    """What a value of one attribute must be."""

    key: str
    kind: str
    required: bool = False
    choices: tuple[str, ...] = ()


def _blank(raw) -> bool:
    if raw is None:
        return True
    if isinstance(raw, (list, tuple)):
        return all(_blank(item) for item in raw)
    return isinstance(raw, str) and not raw.strip()


def parse(spec: Spec, raw) -> tuple[str | None, str | None]:
    """(stored text, None) for a valid raw value, (None, message) otherwise; blank is None."""
    if spec.kind == "boolean" and raw is False:
        # an unticked box is an answer: no
        return "0", None
    if _blank(raw):
        return (None, str(REQUIRED_MESSAGE)) if spec.required else (None, None)
    try:
        return _PARSERS[spec.kind](spec, raw), None
    except ValueError as error:
        return None, str(error)


def _text(spec: Spec, raw) -> str:
    if not isinstance(raw, str) or "\x00" in raw:
        # a number, list or object sent through the API is not text to store as its Python form,
        # and PostgreSQL stores no NUL character
        raise ValueError(TEXT_MESSAGE)
    value = raw.strip()
    if len(value) > MAX_LENGTH[spec.kind]:
        raise ValueError(TOO_LONG_MESSAGE % {"max": MAX_LENGTH[spec.kind]})
    return value


def _integer(spec: Spec, raw) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        raise ValueError(INTEGER_MESSAGE)
    text = str(raw).strip().replace(" ", "").replace("\u00a0", "")
    if not re.fullmatch(r"[-+]?\d{1,18}", text):
        raise ValueError(INTEGER_MESSAGE)
    return str(int(text))


def _decimal(spec: Spec, raw) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        raise ValueError(DECIMAL_MESSAGE)
    text = str(raw).strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    if len(text) > 40:
        raise ValueError(DECIMAL_MESSAGE)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(DECIMAL_MESSAGE) from None
    if not number.is_finite():
        raise ValueError(DECIMAL_MESSAGE)
    return format(number.normalize(), "f")


def _date(spec: Spec, raw) -> str:
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise ValueError(DATE_MESSAGE)
    text = raw.strip()
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            continue
    raise ValueError(DATE_MESSAGE)


def _boolean(spec: Spec, raw) -> str:
    if isinstance(raw, bool):
        return "1" if raw else "0"
    if not isinstance(raw, str):
        raise ValueError(BOOLEAN_MESSAGE)
    text = raw.strip().lower()
    if text in _TRUE:
        return "1"
    if text in _FALSE:
        return "0"
    raise ValueError(BOOLEAN_MESSAGE)


def _choices(spec: Spec, raw) -> list[str]:
    if isinstance(raw, (list, tuple)):
        items = raw
    elif isinstance(raw, str):
        items = re.split(r"[;\n]", raw)
    else:
        raise ValueError(TEXT_MESSAGE)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(TEXT_MESSAGE)
    picked = [item.strip() for item in items if item.strip()]
    for item in picked:
        if item not in spec.choices:
            raise ValueError(CHOICE_MESSAGE % {"choices": ", ".join(spec.choices)})
    return picked


def _choice(spec: Spec, raw) -> str:
    picked = _choices(spec, raw)
    if len(picked) != 1:
        raise ValueError(CHOICE_MESSAGE % {"choices": ", ".join(spec.choices)})
    return picked[0]


def _multi_choice(spec: Spec, raw) -> str:
    return "\n".join(dict.fromkeys(_choices(spec, raw)))


def _email(spec: Spec, raw) -> str:
    value = _text(spec, raw)
    if not is_valid_email(value):
        raise ValueError(EMAIL_MESSAGE)
    return value


def _phone(spec: Spec, raw) -> str:
    value = _text(spec, raw)
    if not is_valid_phone(value):
        raise ValueError(PHONE_MESSAGE)
    return value


def _url(spec: Spec, raw) -> str:
    value = _text(spec, raw)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
        raise ValueError(URL_MESSAGE)
    return value


_PARSERS = {
    "text": _text,
    "long_text": _text,
    "integer": _integer,
    "decimal": _decimal,
    "date": _date,
    "boolean": _boolean,
    "choice": _choice,
    "multi_choice": _multi_choice,
    "email": _email,
    "phone": _phone,
    "url": _url,
}


def to_python(spec: Spec, stored: str | None):
    """A stored value as forms and the API take it: int, Decimal, date, bool, list or text."""
    if stored is None:
        return [] if spec.kind == "multi_choice" else None
    if spec.kind == "integer":
        return int(stored)
    if spec.kind == "decimal":
        return Decimal(stored)
    if spec.kind == "date":
        return date.fromisoformat(stored)
    if spec.kind == "boolean":
        return stored == "1"
    if spec.kind == "multi_choice":
        return stored.split("\n") if stored else []
    return stored


def to_json(spec: Spec, stored: str | None):
    """A stored value as the REST API returns it (decimals and dates as text)."""
    value = to_python(spec, stored)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


YES, NO = _l("yes"), _l("no")


def shown(spec: Spec, stored: str | None) -> str:
    """A stored value as a person reads it."""
    if stored is None:
        return ""
    if spec.kind == "boolean":
        return str(YES if stored == "1" else NO)
    if spec.kind == "multi_choice":
        return ", ".join(stored.split("\n"))
    if spec.kind == "decimal":
        return stored.replace(".", ",")
    return stored


def parse_choices(text: str | None) -> tuple[str, ...]:
    """The choices of a definition, one per line, blanks and repeats dropped."""
    return tuple(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
