"""The suppression list: every email, phone, NIP and PESEL an erased person had, as keyed hashes.

An erased person must not come back unnoticed (by an import, a form or the
API): each value the card held, now or in its history, is put on the list as
an HMAC under a key of its own, derived from the index key for this one use.
The list therefore cannot be joined to the blind indexes of a card or of an
old copy of the database. Entries made before this (``under_index_key``) are
blind indexes of an email or phone and are still honoured.
"""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import and_, or_, select
from sqlalchemy_continuum import version_class

from crm.gdpr.models import Suppression
from crm.privacy.crypto import NORMALIZERS, blind_index, key_ring

#: the card's columns whose values are suppressed, with their normaliser
SUPPRESSED_COLUMNS = {"email": "email", "phone": "phone", "nip": "identifier", "pesel": "identifier"}
#: the columns entries from before per-value hashes were made of (blind indexes)
_LEGACY_COLUMNS = ("email", "phone")


def _key() -> bytes:
    return hmac.new(key_ring().index_key, b"kartoteka suppression list", hashlib.sha256).digest()


def digest(value: str | None, normalizer: str) -> str | None:
    """The suppression-list hash of one value, or None for an empty one."""
    normalized = NORMALIZERS[normalizer](value) if value else ""
    if not normalized:
        return None
    return hmac.new(_key(), f"{normalizer}\x00{normalized}".encode(), hashlib.sha256).hexdigest()[:32]


def digests_of(values: dict[str, str | None]) -> set[str]:
    """Hashes of a card's suppressible values (column -> value)."""
    found = {digest(values.get(column), normalizer) for column, normalizer in SUPPRESSED_COLUMNS.items()}
    return found - {None}


def _legacy_indexes(values: dict[str, str | None]) -> set[str]:
    found = {blind_index(values.get(column), SUPPRESSED_COLUMNS[column], SUPPRESSED_COLUMNS[column])
             for column in _LEGACY_COLUMNS if values.get(column)}
    return found - {None}


def is_suppressed(session, values: dict[str, str | None]) -> bool:
    """Whether an erased person had any of these values (column -> value)."""
    own, legacy = digests_of(values), _legacy_indexes(values)
    if not own and not legacy:
        return False
    condition = or_(
        and_(Suppression.under_index_key.is_(False), Suppression.digest.in_(own or [""])),
        and_(Suppression.under_index_key.is_(True), Suppression.digest.in_(legacy or [""])),
    )
    return session.scalar(select(Suppression.id).where(condition).limit(1)) is not None


class SuppressionList:
    """The whole list read once, to check many rows (an import)."""

    def __init__(self, session):
        rows = session.execute(select(Suppression.digest, Suppression.under_index_key)).all()
        self.own = {value for value, legacy in rows if not legacy}
        self.legacy = {value for value, legacy in rows if legacy}

    def holds(self, values: dict[str, str | None]) -> bool:
        return bool(digests_of(values) & self.own or _legacy_indexes(values) & self.legacy)


def values_held_by(session, client) -> set[tuple[str, str]]:
    """Every (column, value) of the suppressible columns the client holds or ever held (its history)."""
    versions = version_class(type(client))
    found = set()
    for row in [client, *session.scalars(select(versions).where(versions.id == client.id))]:
        found |= {(column, str(getattr(row, column))) for column in SUPPRESSED_COLUMNS if getattr(row, column)}
    return found


def digests_of_held(held: set[tuple[str, str]]) -> set[str]:
    """Hashes of (column, value) pairs from :func:`values_held_by`."""
    return {value for column, text in held if (value := digest(text, SUPPRESSED_COLUMNS[column]))}


def add(session, digests: set[str], event_id: int | None) -> int:
    """Put hashes on the list (those not on it yet); returns how many were added."""
    present = set(session.scalars(select(Suppression.digest).where(
        Suppression.digest.in_(digests or [""]), Suppression.under_index_key.is_(False))))
    new = sorted(digests - present)
    session.add_all(Suppression(digest=value, event_id=event_id) for value in new)
    return len(new)
