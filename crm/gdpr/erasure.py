"""Erasing a person (Art. 17) from every place the registry names, version tables included.

One transaction: rows deleted or anonymised place by place with SQL statements
(so Continuum records no new version of what is being erased), Continuum
transactions left with no version removed, a record of the erasure without
personal data, and the suppression list's entries (every email, phone, NIP and
PESEL the card ever held). The client's data key is destroyed in
the key store's transaction around it, and the erasure written to the key
store's ledger: anything failing rolls both back. Once the key is gone, every
copy of the client's ciphertext elsewhere (dead rows, WAL, backups) is unreadable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, or_, select, union, update
from sqlalchemy_continuum import version_class, versioning_manager

from crm.accountability import trail
from crm.clients.models import Client
from crm.gdpr import suppression
from crm.gdpr.choices import ANSWERED_BY_ERASURE
from crm.gdpr.models import DataSubjectRequest, GdprEvent
from crm.gdpr.places import counts, place_labels, places
from crm.gdpr.service import check_grounds, fulfil
from crm.imports import uploads
from crm.privacy.keystore import KEY_IDS_PER_QUERY, LedgerEntry, key_store
from crm.privacy.registry import Erasure
from crm.public.models import PublicRequest
from crm.timeutil import utcnow

NO_SUCH_CLIENT_MESSAGE = _l("There is no such client; it may have been erased already.")
#: the entry of an erasure's record, beside the places, for the change records (who, when) it left empty
EMPTY_CHANGE_RECORDS = "transactions"
EMPTY_CHANGE_RECORDS_LABEL = _l("Change records left empty")
CONFIRMATION_MESSAGE = _l("Type the client's number exactly as shown to confirm the erasure. Nothing was erased.")
NOT_SHARING_MESSAGE = _l(
    "Only cards that share an email, phone, NIP or PESEL with the person can be erased with them. Nothing was erased."
)
REAPPLIED_REASON = _l("Erased again after a database backup older than the erasure was restored.")
API_CONFIRMATION_MESSAGE = _l('Confirm the erasure with "confirm": true in the body. Nothing was erased.')


class ErasureError(ValueError):
    """An erasure that cannot be done; nothing was changed."""

    def __init__(self, message, status: int = 400):
        super().__init__(str(message))
        self.status = status


@dataclass(frozen=True)
class SharingCard:
    """Another card holding the person's email, phone, NIP or PESEL: perhaps the same person."""

    client_id: int
    name: str
    #: what it shares, as the card's labels name it
    shared: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """What an erasure would remove: rows and versions per place, and transactions left empty."""

    client_id: int
    places: list[tuple[str, str, int, int]]
    transactions: int
    sharing: tuple[SharingCard, ...] = ()

    @property
    def total(self) -> int:
        return sum(live + versions for _table, _label, live, versions in self.places) + self.transactions


def _version_tables():
    return [cls.__table__ for cls in versioning_manager.version_class_map.values()]


def _touched_transactions(session, client_id: int) -> set[int]:
    selects = [
        select(place.version_table.c.transaction_id).where(place.rows_of(place.version_table, client_id))
        for place in places()
        if place.version_table is not None
    ]
    return set(session.scalars(union(*selects)))


def _transactions_left_empty(session, touched: set[int], excluding_client: int | None = None) -> list[int]:
    """Of these transactions, those no version row outside the client's would still name."""
    if not touched:
        return []
    transaction = versioning_manager.transaction_cls.__table__
    query = select(transaction.c.id).where(transaction.c.id.in_(touched))
    client_places = {place.version_table.name: place for place in places() if place.version_table is not None}
    for table in _version_tables():
        condition = table.c.transaction_id == transaction.c.id
        place = client_places.get(table.name)
        if place is not None and excluding_client is not None:
            condition = condition & (table.c[place.subject_column].is_(None) | (table.c[place.subject_column] != excluding_client))
        query = query.where(~exists().where(condition))
    return list(session.scalars(query))


#: the values that make two cards perhaps one person
SHARED_FIELDS = ("email", "phone", "nip", "pesel")
#: at most this many sharing cards are offered per value (a shared company phone could name hundreds)
MAX_SHARING = 50


def cards_sharing(session, client: Client) -> tuple[SharingCard, ...]:
    """Other cards with the client's email, phone, NIP or PESEL (compared by their blind indexes)."""
    from crm.clients.duplicates import sharing
    from crm.clients.labels import CLIENT_LABELS
    from crm.clients.service import card_name

    shared: dict[int, list[str]] = {}
    for duplicate in sharing(session, client, SHARED_FIELDS, per_value=MAX_SHARING):
        shared.setdefault(duplicate.client_id, []).append(str(CLIENT_LABELS[duplicate.field]))
    return tuple(
        SharingCard(other, card_name(session.get(Client, other)), tuple(fields))
        for other, fields in sorted(shared.items())
    )


def record_labels() -> dict[str, str]:
    """Each entry of an erasure's record as a person reads it: the places' labels and the change records'."""
    return {**place_labels(), EMPTY_CHANGE_RECORDS: EMPTY_CHANGE_RECORDS_LABEL}


def preview(session, client_id: int) -> Preview:
    """Count what erasing this client would remove, place by place, and name the cards sharing its identifiers."""
    client = session.get(Client, client_id)
    if client is None:
        raise ErasureError(NO_SUCH_CLIENT_MESSAGE, status=404)
    labels = place_labels()
    held = counts(session, client_id)
    touched = _touched_transactions(session, client_id)
    return Preview(
        client_id=client_id,
        places=[(table, labels[table], live, versions) for table, (live, versions) in held.items()],
        transactions=len(_transactions_left_empty(session, touched, excluding_client=client_id)),
        sharing=cards_sharing(session, client),
    )


def _erase_place(session, place, client_id: int) -> None:
    tables = [place.table] + ([place.version_table] if place.version_table is not None else [])
    connection = session.connection()
    for table in tables:
        chained = trail.chain_of(table.name) is not None
        rows = place.rows_of(table, client_id)
        if place.erasure is Erasure.DELETE:
            links = trail.removing(connection, table, rows) if chained else []
            session.execute(delete(table).where(rows))
        else:
            emptied = {column: None for column in place.personal_columns() if column in table.c}
            # the link to the person is personal too
            emptied[place.subject_column] = None
            keys = trail.keys_of(connection, table, rows) if chained else None
            session.execute(update(table).where(rows).values(emptied))
            links = trail.rewritten(connection, table, keys) if chained else []
        if links:
            # the trail says these rows went (or changed) on purpose, so it stays verifiable
            trail.append(connection, links)


def _empty_places(session, client_id: int, held: dict) -> dict:
    """Delete or anonymise every place and the change records left empty; returns what went, for the record."""
    touched = _touched_transactions(session, client_id)
    # the keyed hashes only: a card brought back by a restore cannot be decrypted any more (its key is gone)
    indexes = set(session.execute(
        select(Client.email_bidx, Client.phone_bidx).where(Client.id == client_id)
    ).first() or ()) - {None}
    for place in places():
        _erase_place(session, place, client_id)
    # requests sent on the public form with the person's email or phone and not yet tied to the card
    pending = 0
    if indexes:
        pending = session.execute(delete(PublicRequest).where(
            or_(PublicRequest.email_bidx.in_(indexes), PublicRequest.phone_bidx.in_(indexes))
        )).rowcount
    empty = _transactions_left_empty(session, touched)
    if empty:
        transaction = versioning_manager.transaction_cls.__table__
        links = trail.removing(session.connection(), transaction, transaction.c.id.in_(empty))
        session.execute(delete(transaction).where(transaction.c.id.in_(empty)))
        trail.append(session.connection(), links)
    record = {table: {"rows": live, "versions": versions} for table, (live, versions) in held.items()}
    record[EMPTY_CHANGE_RECORDS] = {"rows": len(empty), "versions": 0}
    if pending:
        record.setdefault(PublicRequest.__tablename__, {"rows": 0, "versions": 0})["rows"] += pending
    return record


def erase(
    session, client_id: int, actor=None, request_id: int | None = None, reason: str | None = None,
    kind: str = "erasure", also: tuple[int, ...] = (),
) -> GdprEvent:
    """Erase a client everywhere, with ``also`` (cards sharing its identifiers); returns the client's record (committed).

    The erasure answers a request of this client (which is then completed), or
    has a written reason; otherwise nothing is done (ErasureError). Each card
    erased gets its own record; all of them go in one unit of work, or none.
    """
    client = session.get(Client, client_id)
    if client is None:
        raise ErasureError(NO_SUCH_CLIENT_MESSAGE, status=404)
    try:
        reason = check_grounds(session, client_id, request_id, reason)
    except ValueError as error:
        raise ErasureError(error, status=getattr(error, "status", 400)) from None
    if also and set(also) - {card.client_id for card in cards_sharing(session, client)}:
        raise ErasureError(NOT_SHARING_MESSAGE)
    cards = [client, *(session.get(Client, other) for other in sorted(set(also)))]
    held = {card.id: (counts(session, card.id), suppression.values_held_by(session, card)) for card in cards}
    erased_at = utcnow()
    ledger = [
        LedgerEntry(client_number=card.id, data_key_id=card.data_key_id, erased_at=erased_at, request_id=request_id,
                    suppressed=tuple(sorted(suppression.digests_of_held(held[card.id][1]))))
        for card in cards
    ]
    try:
        # the key store's transaction spans the main one: the data keys are destroyed if and only if the rows go
        with key_store().destroying(ledger):
            fulfil(session, request_id, ANSWERED_BY_ERASURE)
            events = []
            for entry in ledger:
                record = _empty_places(session, entry.client_number, held[entry.client_number][0])
                event = GdprEvent(
                    kind=kind, user_id=getattr(actor, "id", None), client_number=entry.client_number,
                    request_id=request_id, reason=reason, counts=json.dumps(record),
                )
                session.add(event)
                session.flush()
                suppression.add(session, set(entry.suppressed), event.id)
                events.append(event)
            session.commit()
    except Exception:
        session.rollback()
        raise
    uploads.drop_holding(current_app.instance_path, [value for _, identifiers in held.values() for _c, value in identifiers])
    return events[0]


@dataclass(frozen=True)
class Reapplied:
    """What re-applying the ledger to a restored database did."""

    clients: list[int]
    suppressed: int


def erased_but_held(session) -> dict[int, str]:
    """Clients (number -> data key id) this database holds although the key store's ledger says they were erased.

    A card deleted before its erasure is found through its versions.
    """
    erased = key_store().erased_key_ids()
    if not erased:
        return {}
    versions = version_class(Client)
    held: dict[int, str] = {}
    wanted = sorted(erased)
    for start in range(0, len(wanted), KEY_IDS_PER_QUERY):
        chunk = wanted[start:start + KEY_IDS_PER_QUERY]
        for model in (Client, versions):
            held.update(session.execute(select(model.id, model.data_key_id).where(model.data_key_id.in_(chunk))).all())
    return held


def reapply_ledger(session) -> Reapplied:
    """Erase again everyone the ledger names that a restored database brought back, and restore their suppression.

    Run on a database put back from a backup older than some erasures, before it
    is served. Nothing is decrypted (the data keys are gone): the rows are found
    by the client's number and deleted; each gets an erasure record.
    """
    entries = {entry.data_key_id: entry for entry in key_store().ledger() if entry.data_key_id}
    clients = erased_but_held(session)
    try:
        for client_id, data_key_id in sorted(clients.items()):
            record = _empty_places(session, client_id, counts(session, client_id))
            request_id = entries[data_key_id].request_id
            if request_id is not None and session.get(DataSubjectRequest, request_id) is None:
                request_id = None
            fulfil(session, request_id, ANSWERED_BY_ERASURE)
            session.add(GdprEvent(
                kind="erasure", client_number=client_id, request_id=request_id, reason=str(REAPPLIED_REASON),
                counts=json.dumps(record),
            ))
        digests = {digest for entry in entries.values() for digest in entry.suppressed}
        added = suppression.add(session, digests, None)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return Reapplied(sorted(clients), added)
