"""The person's export as a document to read (Art. 15(1)): their data in words, and what the controller must tell them.

Values are presented as the card's history presents them (crm.history.service:
labels of codes, names of staff and lists, dates in the office's zone); no
internal numbers or column names. The information Art. 15(1) asks for comes
from the record of processing activities; the roles that opened the data come from the export.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy_continuum import versioning_manager

from crm.accountability import register
from crm.gdpr.choices import REQUEST_LABELS
from crm.gdpr.models import DataSubjectRequest
from crm.gdpr.places import places
from crm.history.models import CardRestore
from crm.history.service import (
    CHANGE_KIND_LABELS,
    OPERATIONS,
    SECTIONS,
    SYSTEM,
    Names,
    Section,
    present,
)
from crm.privacy import categories
from crm.privacy.registry import declaration_of
from crm.timeutil import shown_time

#: rows of the person's that the card's history does not show, presented the same way
REQUESTS = Section(
    "requests", DataSubjectRequest, _l("Your requests about your data"),
    ("kind", "received_on", "due_on", "extended_until", "status", "outcome", "completed_on"), REQUEST_LABELS,
    "client_id",
)
RESTORES = Section(
    "restores", CardRestore, _l("Restores of your card to an earlier version"), ("restored_version",),
    {"restored_version": _l("Restored to the state of")}, "client_id",
)
#: the user-id columns whose staff member is named (the history names owners and authors)
_STAFF_COLUMNS = ("owner_id", "author_id")


def sections() -> list[Section]:
    """One section per place of the person's data that goes into their export."""
    return [*SECTIONS, REQUESTS, RESTORES]


@dataclass(frozen=True)
class Record:
    """A row, or one earlier version of it, as (label, value) pairs; empty values left out."""

    fields: list[tuple[str, str]]
    change: str = ""
    at: str = ""
    by: str = ""


@dataclass(frozen=True)
class Part:
    """What one place holds about the person, now and before."""

    title: str
    records: list[Record]
    history: list[Record] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    """The whole document: the data in parts, and the information Art. 15(1) requires."""

    parts: list[Part]
    #: the categories of the person's data held, in words (Art. 15(1)(b))
    categories: list[str]
    #: the processing activities that concern clients, as the record describes them (Art. 15(1)(a, c, d, g))
    activities: list[dict[str, str]]
    controller: register.Controller


def _plain_row(section: Section, row) -> dict:
    return {name: getattr(row, name) for name in section.fields}


def _transactions(session, ids) -> dict[int, tuple]:
    """Each transaction's time and the id of the staff member who made it."""
    transaction = versioning_manager.transaction_cls
    if not ids:
        return {}
    return {
        row.id: (row.issued_at, row.user_id)
        for row in session.execute(select(transaction.id, transaction.issued_at, transaction.user_id).where(
            transaction.id.in_(set(ids))
        ))
    }


def _record(section: Section, values: dict, names: Names, restored: dict) -> Record:
    fields = []
    for name in section.fields:
        value = values.get(name)
        if section is RESTORES and value is not None:
            value = restored.get(value, (None,))[0]
        shown = present(section, name, value, names)
        if shown:
            fields.append((str(section.labels[name]), shown))
    return Record(fields)


def _categories_held(rows_by_section) -> list[str]:
    held = set()
    for section, rows in rows_by_section:
        declaration = declaration_of(section.model)
        for name, personal in (declaration.columns.items() if declaration else ()):
            if any(getattr(row, name, None) not in (None, "") for row in rows):
                held.add(personal.category.key)
    return [str(category.label) for category in categories.CATEGORIES if category.key in held]


def document(session, client_id: int) -> Document:
    """Everything held about the person, in words, with their rights' information."""
    loaded = []
    for section in sections():
        rows = list(session.scalars(select(section.model).where(getattr(section.model, section.client_column) == client_id)))
        versions = []
        if hasattr(section.model, "__versioned__"):
            version = section.version
            versions = list(session.scalars(
                select(version).where(getattr(version, section.client_column) == client_id).order_by(version.transaction_id)
            ))
        loaded.append((section, rows, versions))
    plain = [(section, [_plain_row(section, row) for row in (*rows, *versions)]) for section, rows, versions in loaded]
    transactions = _transactions(session, {
        *(version.transaction_id for _, _, versions in loaded for version in versions),
        *(row.restored_version for section, rows, _ in loaded if section is RESTORES for row in rows),
    })
    names = Names.load(
        session,
        {*(values.get(column) for _, rows in plain for values in rows for column in _STAFF_COLUMNS),
         *(user_id for _, user_id in transactions.values())},
        {values.get("mailing_list_id") for _, rows in plain for values in rows} - {None},
        {values.get("definition_id") for _, rows in plain for values in rows} - {None},
    )
    parts = []
    for section, rows, versions in loaded:
        if not rows and not versions:
            continue
        history = []
        for version in versions:
            at, user_id = transactions.get(version.transaction_id, (None, None))
            record = _record(section, _plain_row(section, version), names, transactions)
            history.append(Record(
                record.fields, change=str(CHANGE_KIND_LABELS[OPERATIONS[version.operation_type]]),
                at=shown_time(at), by=names.users.get(user_id, str(SYSTEM)),
            ))
        parts.append(Part(
            str(section.label), [_record(section, _plain_row(section, row), names, transactions) for row in rows], history,
        ))
    return Document(
        parts=parts,
        categories=_categories_held((section, rows) for section, rows, _ in loaded),
        activities=[register.described(activity) for activity in register.about_clients(session)],
        controller=register.controller(),
    )


def exported_places_without_a_section() -> list[str]:
    """Places of the registry that go into the export but that the document does not show (a test keeps it empty)."""
    shown = {section.model for section in sections()}
    return [place.table.name for place in places() if place.declaration.exported and place.model not in shown]

