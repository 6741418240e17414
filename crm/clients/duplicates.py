"""Another card with the same NIP, PESEL or email: found through the blind indexes, saved only when confirmed.

The values themselves stay encrypted; their keyed hashes (the blind indexes
the search uses) are compared. A card is checked when it is new or when one
of these values changed, so editing another field of an accepted duplicate
does not ask again.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect, select

from crm.clients.models import Client
from crm.privacy.crypto import blind_index
from crm.privacy.registry import declaration_of

#: the values that name one client: a second card with one of them is probably the same client
IDENTIFYING = ("nip", "pesel", "email")
#: at most this many other cards are named per value
SHOWN_PER_VALUE = 5
#: digests asked for in one query when many rows are checked at once
CHUNK = 500

DUPLICATE_MESSAGE = _l(
    "Another card already has this NIP, PESEL or email (named above the form). Open it to check; if this is a "
    "different client, tick the confirmation below and save again."
)
CONFIRM_LABEL = _l("Save although another card has the same NIP, PESEL or email")
ROW_DUPLICATES_CARD_MESSAGE = _l(
    "%(field)s: card no. %(id)d already has this value (tick the confirmation to import it as another client)."
)
ROW_DUPLICATES_ROW_MESSAGE = _l("%(field)s: row %(row)d of the file has the same value.")


@dataclass(frozen=True)
class Duplicate:
    """Another card holding the same value of ``field``."""

    field: str
    client_id: int


class DuplicateCardError(ValueError):
    """The card's NIP, PESEL or email is another card's: a conflict (409 through the API) until confirmed."""

    status = 409
    confirmation = "confirm_duplicate"

    def __init__(self, duplicates: list[Duplicate]):
        super().__init__(str(DUPLICATE_MESSAGE))
        self.duplicates = duplicates
        self.api_extra = {"duplicates": [{"id": d.client_id, "field": d.field} for d in duplicates]}


def _changed(client: Client, field: str) -> bool:
    if client.id is None:
        return True
    return inspect(client).attrs[field].history.has_changes()


def sharing(session, client: Client, fields, per_value: int = SHOWN_PER_VALUE) -> list[Duplicate]:
    """Other cards holding the client's value of each of these fields (compared by blind index)."""
    found = []
    for field in fields:
        digest = getattr(client, f"{field}_bidx")
        if digest is None:
            continue
        query = select(Client.id).where(getattr(Client, f"{field}_bidx") == digest)
        if client.id is not None:
            query = query.where(Client.id != client.id)
        ids = session.scalars(query.order_by(Client.id).limit(per_value))
        found += [Duplicate(field, client_id) for client_id in ids]
    return found


def duplicates_of(session, client: Client) -> list[Duplicate]:
    """Other cards with the same value of any identifying field this save sets."""
    return sharing(session, client, [field for field in IDENTIFYING if _changed(client, field)])


def check_duplicates(session, client: Client, confirmed: bool) -> None:
    """Refuse (DuplicateCardError) a card sharing an identifying value with another, unless confirmed."""
    if confirmed:
        return
    duplicates = duplicates_of(session, client)
    if duplicates:
        raise DuplicateCardError(duplicates)


def digest_of(field: str, value: str | None) -> str | None:
    """The blind index a card stores for ``value`` of an identifying field (None for an empty value)."""
    normalizer = declaration_of(Client).columns[field].blind_index
    return blind_index(value, normalizer, normalizer)


def cards_holding(session, field: str, digests: set[str]) -> dict[str, int]:
    """For each digest some card holds in ``field``: the lowest such card's id. A query per CHUNK digests."""
    found: dict[str, int] = {}
    column = getattr(Client, f"{field}_bidx")
    ordered = sorted(digests)
    for start in range(0, len(ordered), CHUNK):
        rows = session.execute(
            select(column, Client.id).where(column.in_(ordered[start:start + CHUNK])).order_by(Client.id)
        )
        for digest, client_id in rows:
            found.setdefault(digest, client_id)
    return found


def row_duplicates(session, rows: list[dict]) -> list[list[tuple[str, int | None, int | None]]]:
    """For each row of values to import: (field, card id, earlier row index) of each value already held.

    A value is held by a card in the database (card id) or by an earlier row of the same file (its index).
    """
    found: list[list] = [[] for _ in rows]
    for field in IDENTIFYING:
        digests = [digest_of(field, values.get(field)) for values in rows]
        held = cards_holding(session, field, {d for d in digests if d})
        first_row: dict[str, int] = {}
        for index, digest in enumerate(digests):
            if not digest:
                continue
            if digest in held:
                found[index].append((field, held[digest], None))
            elif digest in first_row:
                found[index].append((field, None, first_row[digest]))
            first_row.setdefault(digest, index)
    return found
