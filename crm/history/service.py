"""History of a client card read from Continuum's version tables: timeline, snapshots, restore.

A *version of the card* is the state after one transaction that touched the
card or a row belonging to it. Queries go to the version tables directly, a
page of transactions at a time, so a card with thousands of versions opens in
a few queries. Values are presented (labels, names, dates) and masked for staff
who may not see personal data, after the comparison is made on raw values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, union
from sqlalchemy.orm import configure_mappers, selectinload
from sqlalchemy_continuum import version_class, versioning_manager

from crm.attributes.models import AttributeDefinition, AttributeValue
from crm.clients.choices import CLIENT_KIND_LABELS, CLIENT_STATUS_LABELS, NOTE_KIND_LABELS, country_name, label_of
from crm.clients.labels import CLIENT_LABELS, CONTACT_LABELS, NOTE_LABELS
from crm.clients.models import Client, ContactPerson, Note
from crm.history.diff import changed_fields, diff_cards, word_diff
from crm.attributes.service import secret_index
from crm.gdpr.service import RESTRICTED_MESSAGE, active_restriction
from crm.history.models import CardRestore
from crm.gdpr.choices import (
    BASIS_LABELS,
    CONSENT_LABELS,
    CONSENT_SOURCE_LABELS,
    PURPOSE_LABELS,
    REQUEST_KIND_LABELS,
    REQUEST_STATUS_LABELS,
    RESTRICTION_LABELS,
)
from crm.gdpr.models import Consent, Restriction
from crm.mailing.choices import SUBSCRIPTION_LABELS, SUBSCRIPTION_SOURCE_LABELS
from crm.mailing.models import MailingList, Subscription
from crm.privacy.categories import IDENTITY, ONLINE
from crm.privacy.masking import STARS, can_see, hidden_mask, mask
from crm.timeutil import office_day_start, shown_time

CREATED, CHANGED_KIND, DELETED, RESTORED = "created", "changed", "deleted", "restored"
CHANGE_KIND_LABELS = {
    CREATED: _l("created"),
    CHANGED_KIND: _l("changed"),
    DELETED: _l("deleted"),
    RESTORED: _l("restored"),
}
#: what a Continuum operation type did to a row
OPERATIONS = {0: CREATED, 1: CHANGED_KIND, 2: DELETED}
SYSTEM = _l("system (command line)")

NO_SUCH_VERSION_MESSAGE = _l("That version does not belong to this card.")
NOTHING_TO_RESTORE_MESSAGE = _l("The card already looks like that version; nothing was changed.")


@dataclass(frozen=True)
class Section:
    """A kind of row of the card, as the history shows it."""

    key: str
    model: type
    label: object
    fields: tuple[str, ...]
    labels: dict
    #: the column holding the client's id ("id" on the client itself)
    client_column: str

    @property
    def version(self):
        return version_class(self.model)


SECTIONS = (
    Section(
        "client", Client, _l("Client card"),
        ("kind", "company_name", "first_name", "last_name", "email", "phone", "street", "postal_code", "city",
         "country", "nip", "pesel", "status", "owner_id", "remarks"),
        CLIENT_LABELS, "id",
    ),
    Section("contacts", ContactPerson, _l("Contact person"),
            ("first_name", "last_name", "position", "email", "phone"), CONTACT_LABELS, "client_id"),
    Section("notes", Note, _l("Note"), ("kind", "occurred_on", "text", "author_id"), NOTE_LABELS, "client_id"),
    Section("subscriptions", Subscription, _l("Subscription"), ("mailing_list_id", "source", "subscribed_at"),
            SUBSCRIPTION_LABELS, "client_id"),
    Section("attributes", AttributeValue, _l("Attribute"), ("definition_id", "value", "secret"), {
        "definition_id": _l("Attribute"), "value": _l("Value"), "secret": _l("Value (personal data)"),
    }, "client_id"),
    Section("consents", Consent, _l("Consent or lawful basis"),
            ("purpose", "lawful_basis", "given_on", "source", "evidence", "withdrawn_on"), CONSENT_LABELS, "client_id"),
    Section("restrictions", Restriction, _l("Restriction of processing"),
            ("since", "until", "reason", "lifted_on"), RESTRICTION_LABELS, "client_id"),
)
BY_KEY = {section.key: section for section in SECTIONS}
FIELDS_OF = {section.key: section.fields for section in SECTIONS}
RECORD_KIND_LABELS = {section.key: section.label for section in SECTIONS}

_CHOICES = {
    ("client", "kind"): CLIENT_KIND_LABELS,
    ("client", "status"): CLIENT_STATUS_LABELS,
    ("notes", "kind"): NOTE_KIND_LABELS,
    ("subscriptions", "source"): SUBSCRIPTION_SOURCE_LABELS,
    ("consents", "purpose"): PURPOSE_LABELS,
    ("consents", "lawful_basis"): BASIS_LABELS,
    ("consents", "source"): CONSENT_SOURCE_LABELS,
    # the person's requests, shown in their export (crm.gdpr.document)
    ("requests", "kind"): REQUEST_KIND_LABELS,
    ("requests", "status"): REQUEST_STATUS_LABELS,
}


class HistoryError(ValueError):
    """A history request that cannot be met; the message says why."""

    def __init__(self, message, status: int = 400):
        super().__init__(str(message))
        self.status = status


# -- presenting values ----------------------------------------------------------

@dataclass
class Names:
    """Names of staff and mailing lists referred to by id, fetched once per page."""

    users: dict[int, str] = field(default_factory=dict)
    lists: dict[int, str] = field(default_factory=dict)
    attributes: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, session, user_ids, list_ids, attribute_ids=()) -> "Names":
        from crm.extensions import appbuilder

        user_model = appbuilder.sm.user_model
        users = {
            user.id: staff_name(user)
            for user in session.scalars(select(user_model).where(user_model.id.in_({i for i in user_ids if i})))
        }
        lists = dict(session.execute(select(MailingList.id, MailingList.name).where(MailingList.id.in_(set(list_ids)))).all())
        attributes = {
            definition.id: definition.label
            for definition in session.scalars(select(AttributeDefinition).where(AttributeDefinition.id.in_(set(attribute_ids))))
        }
        return cls(users, lists, attributes)


def staff_name(user) -> str:
    """A staff member as history names them (deactivated accounts stay named)."""
    name = " ".join(part for part in (user.first_name, user.last_name) if part) or user.username
    return name if user.active else gettext("%(name)s (deactivated)", name=name)


def present(section: Section, column: str, value, names: Names) -> str:
    """A stored value as the history shows it: labels, names, dates; masked where the user may not see its category."""
    if value is None or value == "":
        return ""
    kind = hidden_mask(section.model, column)
    if kind is not None:
        return mask(kind, value)
    labels = _CHOICES.get((section.key, column))
    if labels is not None:
        return label_of(labels, value)
    if column in ("owner_id", "author_id"):
        return names.users.get(value, f"#{value}")
    if column == "mailing_list_id":
        return names.lists.get(value, f"#{value}")
    if column == "definition_id":
        return names.attributes.get(value, f"#{value}")
    if column == "country":
        return country_name(value)
    if isinstance(value, (datetime, date)):
        return shown_time(value)
    return str(value)


def _ids_to_name(rows_by_group) -> tuple[set[int], set[int], set[int]]:
    users, lists, attributes = set(), set(), set()
    for rows in rows_by_group.values():
        for row in rows:
            if row is None:
                continue
            users.update(v for k, v in row.items() if k in ("owner_id", "author_id") and v)
            lists.update(v for k, v in row.items() if k == "mailing_list_id" and v)
            attributes.update(v for k, v in row.items() if k == "definition_id" and v)
    return users, lists, attributes


def _row(section: Section, version) -> dict:
    return {name: getattr(version, name) for name in section.fields}


# -- the card's transactions -------------------------------------------------------

def _transactions_of_card(client_id: int):
    return union(
        *(
            select(section.version.transaction_id.label("transaction_id")).where(
                getattr(section.version, section.client_column) == client_id
            )
            for section in SECTIONS
        )
    ).subquery()


def restored_transactions(session, transaction_ids) -> dict[int, int]:
    """Which of these transactions restored a card, and to which version."""
    rows = session.execute(
        select(CardRestore.transaction_id, CardRestore.restored_version).where(
            CardRestore.transaction_id.in_(list(transaction_ids))
        )
    )
    return dict(rows.all())


@dataclass
class Entry:
    """What one transaction did to one row of the card."""

    section: Section
    row_id: int
    kind: str
    changes: list[tuple[str, str, str]]

    @property
    def kind_label(self) -> str:
        return str(CHANGE_KIND_LABELS[self.kind])


@dataclass
class Change:
    """One transaction of the card's timeline."""

    id: int
    issued_at: datetime
    who: str
    address: str
    entries: list[Entry]
    restored_version: int | None = None

    @property
    def kind(self) -> str:
        if self.restored_version is not None:
            return RESTORED
        kinds = {entry.kind for entry in self.entries if entry.section.key == "client"} or {
            entry.kind for entry in self.entries
        }
        for kind in (DELETED, CREATED, CHANGED_KIND):
            if kind in kinds:
                return kind
        return CHANGED_KIND

    @property
    def kind_label(self) -> str:
        return str(CHANGE_KIND_LABELS[self.kind])


def _describe_transactions(session, transaction_ids: list[int]) -> dict[int, tuple[datetime, str, str]]:
    transaction_cls = versioning_manager.transaction_cls
    masked = not can_see(ONLINE)
    result = {}
    query = select(transaction_cls).where(transaction_cls.id.in_(transaction_ids))
    for transaction in session.scalars(query.options(selectinload(transaction_cls.user))):
        who = staff_name(transaction.user) if transaction.user is not None else str(SYSTEM)
        address = transaction.remote_addr or ""
        result[transaction.id] = (transaction.issued_at, who, STARS if masked and address else address)
    return result


def timeline(session, client_id: int, page: int = 0, per_page: int = 20) -> tuple[list[Change], int]:
    """One page of the card's transactions, newest first, with what each changed; and how many there are."""
    card = _transactions_of_card(client_id)
    total = session.scalar(select(func.count()).select_from(card))
    transaction_ids = list(
        session.scalars(select(card.c.transaction_id).order_by(card.c.transaction_id.desc()).offset(page * per_page).limit(per_page))
    )
    if not transaction_ids:
        return [], total
    raw: list[tuple[Section, object, dict | None, dict | None]] = []
    for section in SECTIONS:
        version = section.version
        rows = list(session.scalars(
            select(version).where(
                getattr(version, section.client_column) == client_id, version.transaction_id.in_(transaction_ids)
            )
        ))
        if not rows:
            continue
        previous = {
            (row.id, row.end_transaction_id): row
            for row in session.scalars(
                select(version).where(
                    version.id.in_({row.id for row in rows}), version.end_transaction_id.in_(transaction_ids)
                )
            )
        }
        for row in rows:
            before = previous.get((row.id, row.transaction_id))
            old = _row(section, before) if before is not None else None
            new = None if row.operation_type == 2 else _row(section, row)
            if row.operation_type == 2 and old is None:
                old = _row(section, row)
            raw.append((section, row, old, new))
    names = Names.load(session, *_ids_to_name({"all": [r for _s, _v, o, n in raw for r in (o, n)]}))
    described = _describe_transactions(session, transaction_ids)
    restored = restored_transactions(session, transaction_ids)
    changes = {
        tid: Change(tid, *described.get(tid, (None, str(SYSTEM), "")), entries=[], restored_version=restored.get(tid))
        for tid in transaction_ids
    }
    for section, row, old, new in raw:
        fields = changed_fields(old, new, section.fields)
        changes[row.transaction_id].entries.append(Entry(
            section=section,
            row_id=row.id,
            kind=OPERATIONS[row.operation_type],
            changes=[
                (str(section.labels.get(change.field, change.field)),
                 present(section, change.field, change.old, names),
                 present(section, change.field, change.new, names))
                for change in fields
            ],
        ))
    for change in changes.values():
        change.entries.sort(key=lambda entry: (list(BY_KEY).index(entry.section.key), entry.row_id))
    return [changes[tid] for tid in transaction_ids], total


def card_record(session, client_id: int) -> dict | None:
    """When and by whom the card was created and last changed (any of its rows)."""
    version = version_class(Client)
    created = session.scalar(select(func.min(version.transaction_id)).where(version.id == client_id))
    card = _transactions_of_card(client_id)
    last = session.scalar(select(func.max(card.c.transaction_id)))
    if created is None:
        return None
    described = _describe_transactions(session, [created, last])
    return {"created": described.get(created), "changed": described.get(last)}


# -- snapshots and the diff -----------------------------------------------------------

def belongs_to_card(session, client_id: int, transaction_id: int) -> bool:
    card = _transactions_of_card(client_id)
    return session.scalar(select(func.count()).select_from(card).where(card.c.transaction_id == transaction_id)) > 0


def snapshot(session, client_id: int, transaction_id: int) -> dict[str, dict[int, dict]]:
    """The card and its rows as they were right after a transaction."""
    result = {}
    for section in SECTIONS:
        version = section.version
        rows = session.scalars(
            select(version).where(
                getattr(version, section.client_column) == client_id,
                version.transaction_id <= transaction_id,
                or_(version.end_transaction_id.is_(None), version.end_transaction_id > transaction_id),
                version.operation_type != 2,
            )
        )
        result[section.key] = {row.id: _row(section, row) for row in rows}
    return result


@dataclass
class DiffRow:
    """A row of the side-by-side comparison, ready to show."""

    section: Section
    row_id: int
    status: str
    fields: list[tuple[str, str, str, bool, list | None]]


def compare(session, client_id: int, older: int, newer: int) -> tuple[dict, dict, list[DiffRow]]:
    """Two versions of the card side by side: their transactions and every row, changed fields marked.

    Each field is (label, old, new, changed, word diff of long text or None).
    """
    for transaction_id in (older, newer):
        if not belongs_to_card(session, client_id, transaction_id):
            raise HistoryError(NO_SUCH_VERSION_MESSAGE, status=404)
    older, newer = sorted((older, newer))
    old, new = snapshot(session, client_id, older), snapshot(session, client_id, newer)
    names = Names.load(session, *_ids_to_name({
        "old": [row for rows in old.values() for row in rows.values()],
        "new": [row for rows in new.values() for row in rows.values()],
    }))
    rows = []
    for row in diff_cards(old, new, FIELDS_OF):
        section = BY_KEY[row.section]
        fields = []
        for change in row.fields:
            shown_old = present(section, change.field, change.old, names)
            shown_new = present(section, change.field, change.new, names)
            words = None
            long_text = isinstance(change.old, str) and isinstance(change.new, str) and max(len(change.old), len(change.new)) > 60
            if change.changed and long_text and hidden_mask(section.model, change.field) is None:
                words = word_diff(change.old, change.new)
            fields.append((str(section.labels.get(change.field, change.field)), shown_old, shown_new, change.changed, words))
        rows.append(DiffRow(section, row.row_id, row.status, fields))
    described = _describe_transactions(session, [older, newer])
    return ({"id": older, "info": described.get(older)}, {"id": newer, "info": described.get(newer)}, rows)


# -- recent changes across the base ------------------------------------------------------

@dataclass(frozen=True)
class RecentFilter:
    """The recent-changes screen's filters; None means any."""

    user_id: int | None = None
    since: date | None = None
    until: date | None = None
    record_kind: str | None = None
    change_kind: str | None = None


@dataclass
class RecentChange:
    issued_at: datetime
    who: str
    record_kind: str
    client_id: int
    client: str
    change_kind: str


def recent_changes(session, wanted: RecentFilter, page: int = 0, per_page: int = 50) -> tuple[list[RecentChange], bool]:
    """One page of changes to client cards across the base, newest first; and whether more follow."""
    from sqlalchemy import literal, union_all

    transaction_cls = versioning_manager.transaction_cls
    parts = []
    for section in SECTIONS:
        if wanted.record_kind not in (None, section.key):
            continue
        version = section.version
        parts.append(select(
            version.transaction_id.label("transaction_id"),
            literal(section.key).label("record_kind"),
            getattr(version, section.client_column).label("client_id"),
            version.operation_type.label("operation_type"),
        ))
    changes = union_all(*parts).subquery()
    query = (
        select(changes, transaction_cls.issued_at, transaction_cls.user_id, CardRestore.transaction_id.label("restore"))
        .join(transaction_cls, transaction_cls.id == changes.c.transaction_id)
        .outerjoin(CardRestore, CardRestore.transaction_id == changes.c.transaction_id)
    )
    if wanted.user_id is not None:
        query = query.where(transaction_cls.user_id == wanted.user_id)
    if wanted.since is not None:
        query = query.where(transaction_cls.issued_at >= office_day_start(wanted.since))
    if wanted.until is not None:
        query = query.where(transaction_cls.issued_at < office_day_start(wanted.until + timedelta(days=1)))
    if wanted.change_kind == RESTORED:
        query = query.where(CardRestore.transaction_id.is_not(None))
    elif wanted.change_kind is not None:
        operation = {kind: op for op, kind in OPERATIONS.items()}[wanted.change_kind]
        query = query.where(changes.c.operation_type == operation, CardRestore.transaction_id.is_(None))
    rows = session.execute(
        query.order_by(changes.c.transaction_id.desc(), changes.c.record_kind).offset(page * per_page).limit(per_page + 1)
    ).all()
    more, rows = len(rows) > per_page, rows[:per_page]
    names = Names.load(session, {row.user_id for row in rows}, ())
    clients = {
        client.id: client
        for client in session.scalars(select(Client).where(Client.id.in_({row.client_id for row in rows})))
    }
    masked = not can_see(IDENTITY)
    result = []
    for row in rows:
        client = clients.get(row.client_id)
        shown = client.display_name if client is not None else ""
        if masked and shown:
            shown = mask("name", shown)
        if client is None:
            shown = gettext("card #%(id)s (deleted)", id=row.client_id)
        kind = RESTORED if row.restore is not None else OPERATIONS[row.operation_type]
        result.append(RecentChange(
            issued_at=row.issued_at,
            who=names.users.get(row.user_id, str(SYSTEM)) if row.user_id else str(SYSTEM),
            record_kind=str(RECORD_KIND_LABELS[row.record_kind]),
            client_id=row.client_id,
            client=shown,
            change_kind=str(CHANGE_KIND_LABELS[kind]),
        ))
    return result, more


# -- restore ----------------------------------------------------------------------

def _check_restorable(session, client_id: int, transaction_id: int) -> None:
    if session.get(Client, client_id) is None or not belongs_to_card(session, client_id, transaction_id):
        raise HistoryError(NO_SUCH_VERSION_MESSAGE, status=404)
    if active_restriction(session, client_id) is not None:
        raise HistoryError(RESTRICTED_MESSAGE, status=409)


def restore_preview(session, client_id: int, transaction_id: int) -> tuple[dict, dict, list[DiffRow]]:
    """What restoring a version would change: that version beside the card as it is (see :func:`compare`)."""
    _check_restorable(session, client_id, transaction_id)
    newest = session.scalar(select(func.max(_transactions_of_card(client_id).c.transaction_id)))
    if transaction_id == newest:
        raise HistoryError(NOTHING_TO_RESTORE_MESSAGE, status=409)
    return compare(session, client_id, transaction_id, newest)


def restore(session, client_id: int, transaction_id: int, actor) -> int:
    """Bring the card and its rows back to a version, as a new version; returns the rows changed.

    Rows created since are deleted, rows deleted since come back with their
    ids; a subscription to a mailing list deleted since cannot come back and is left out.
    """
    _check_restorable(session, client_id, transaction_id)
    client = session.get(Client, client_id)
    target = snapshot(session, client_id, transaction_id)
    if client_id not in target["client"]:
        raise HistoryError(NO_SUCH_VERSION_MESSAGE, status=404)
    try:
        changed = _apply(session, client, target)
        if not changed:
            session.rollback()
            raise HistoryError(NOTHING_TO_RESTORE_MESSAGE, status=409)
        session.flush()
        transaction = versioning_manager.unit_of_work(session).current_transaction
        session.add(CardRestore(transaction_id=transaction.id, client_id=client_id, restored_version=transaction_id))
        session.commit()
    except Exception:
        session.rollback()
        raise
    return changed


def _set_fields(row, values: dict) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _apply(session, client, target) -> int:
    changed = int(_set_fields(client, target["client"][client.id]))
    existing_lists = set(session.scalars(select(MailingList.id)))
    # consents and restrictions are proof of their own time: a restore leaves them as they are
    related = {
        "contacts": client.contacts, "notes": client.notes, "subscriptions": client.subscriptions,
        "attributes": client.attribute_values,
    }
    # deletions first: a subscription coming back may take the place (client, list) of one going
    for key, rows in related.items():
        for row in list(rows):
            if row.id not in target[key]:
                rows.remove(row)
                changed += 1
    session.flush()
    for key, rows in related.items():
        current = {row.id: row for row in rows}
        for row_id, values in target[key].items():
            if row_id in current:
                changed += int(_set_fields(current[row_id], values))
            elif key != "subscriptions" or values["mailing_list_id"] in existing_lists:
                rows.append(BY_KEY[key].model(id=row_id, **values))
                changed += 1
    for row in client.attribute_values:
        # the keyed hash of a personal value is derived, not versioned: work it out again
        if row.secret is not None:
            row.secret_bidx = secret_index(session.get(AttributeDefinition, row.definition_id), row.secret)
    return changed


configure_mappers()
