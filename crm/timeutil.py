"""Time: the database stores naive UTC; people read the office's time, to the minute or second.

``CRM_TIME_ZONE`` (default Europe/Warsaw) is the office's zone. Screens and
the exports people read show times in it, without microseconds, dates as
``dd.mm.yyyy`` in Polish and ``yyyy-mm-dd`` in English; the REST API and
``export.json`` keep UTC (RFC 3339), which programs expect.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from flask_babel import get_locale

DEFAULT_ZONE = "Europe/Warsaw"
_FORMATS = {
    "pl": ("%d.%m.%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"),
    "en": ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"),
}


def utcnow() -> datetime:
    """The current UTC time as a naive datetime, as stored in the database."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def office_zone() -> ZoneInfo:
    """The office's time zone (``CRM_TIME_ZONE``)."""
    name = current_app.config.get("CRM_TIME_ZONE", DEFAULT_ZONE) if has_app_context() else DEFAULT_ZONE
    return ZoneInfo(name)


def to_office_time(stored: datetime, zone: ZoneInfo | None = None) -> datetime:
    """A stored (naive UTC) time as the office's wall-clock time."""
    return stored.replace(tzinfo=timezone.utc).astimezone(zone or office_zone())


def _formats() -> tuple[str, str, str]:
    language = str(get_locale() or "pl")[:2] if has_app_context() else "pl"
    return _FORMATS.get(language, _FORMATS["pl"])


def date_format() -> str:
    """The strftime format of a date in the reader's language (``%d.%m.%Y`` in Polish)."""
    return _formats()[0]


def shown_time(value, seconds: bool = False) -> str:
    """A stored time (naive UTC) or a date as a person reads it: the office's zone, no microseconds."""
    if value is None or value == "":
        return ""
    day, minute, second = _formats()
    if isinstance(value, datetime):
        return to_office_time(value).strftime(second if seconds else minute)
    if isinstance(value, date):
        return value.strftime(day)
    return str(value)


#: how a moment may be typed: either language's way, or ISO as a datetime-local input sends it
_TYPED_MOMENTS = ("%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")


def from_office_time(text: str) -> datetime | None:
    """A moment typed as the office's wall-clock time, as stored (naive UTC); None when it cannot be read."""
    for pattern in _TYPED_MOMENTS:
        try:
            local = datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=office_zone()).astimezone(timezone.utc).replace(tzinfo=None)
    return None


def zone_note() -> str:
    """The office's zone as a person reads it in a heading ("Europe/Warsaw")."""
    return office_zone().key


def office_today(moment: datetime | None = None) -> date:
    """The office's date at a stored moment (naive UTC; now by default): a request sent at 00:30 in Warsaw is received that day."""
    return to_office_time(moment or utcnow()).date()


def office_day_start(day: date) -> datetime:
    """The stored (naive UTC) time at which a day begins in the office's zone."""
    local = datetime.combine(day, datetime.min.time()).replace(tzinfo=office_zone())
    return local.astimezone(timezone.utc).replace(tzinfo=None)
