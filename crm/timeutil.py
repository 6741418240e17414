"""Time helpers: the database stores naive UTC."""

from datetime import datetime, timezone


def utcnow() -> datetime:
    """The current UTC time as a naive datetime, as stored in the database."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
