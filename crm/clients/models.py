"""The client card (karta kontrahenta), its contact persons and its notes.

Every row here is versioned by SQLAlchemy-Continuum (``__versioned__``).
``lock_version`` is SQLAlchemy's version counter: an UPDATE names the counter it
read, so of two saves of one card the second matches no row and fails instead
of overwriting the first (optimistic locking, see :mod:`crm.locking`).
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.constraints import AUTOINCREMENT, one_of
from crm.clients.choices import CLIENT_KINDS, CLIENT_STATUSES, NOTE_KINDS
from crm.privacy.categories import ADDRESS, CONTACT, EMPLOYMENT, FREE_TEXT, IDENTIFIERS, IDENTITY
from crm.privacy.registry import Erasure, Personal, PersonalData, register_models
from crm.privacy.types import EncryptedString, EncryptedText
from crm.timeutil import utcnow


def word_index_scan(table: str) -> Index:
    """An index on ``word_index`` for SQLite only: a search by a word reads every row's word hashes, and
    SQLite reads them from this narrow index instead of the whole encrypted row (the count of a
    search's matches twice as fast at 20,000 clients). PostgreSQL does not scan an index for
    ``LIKE '%...%'``, and its btree refuses entries over 2,704 bytes, which a long name could reach."""
    return Index(f"ix_{table}_word_index", "word_index").ddl_if(dialect="sqlite")


class Client(Model):
    """A client card: a person or a company."""

    __tablename__ = "client"
    __versioned__: dict = {}
    __table_args__ = (
        one_of("kind", CLIENT_KINDS, "ck_client_kind"),
        one_of("status", CLIENT_STATUSES, "ck_client_status"),
        word_index_scan("client"),
        AUTOINCREMENT,
    )

    id = Column(Integer, primary_key=True)
    #: the id of this client's data key in the key store (a random name, not the key): every
    #: personal value of the client is sealed under that key, and erasure destroys it
    data_key_id = Column(String(32), index=True)
    #: ``person`` or ``company``
    kind = Column(String(10), nullable=False, default="company")
    company_name = Column(EncryptedString("client.company_name", 200))
    first_name = Column(EncryptedString("client.first_name", 100))
    last_name = Column(EncryptedString("client.last_name", 100))
    email = Column(EncryptedString("client.email", 254))
    email_bidx = Column(String(32), index=True)
    phone = Column(EncryptedString("client.phone", 32))
    phone_bidx = Column(String(32), index=True)
    street = Column(EncryptedString("client.street", 200))
    postal_code = Column(EncryptedString("client.postal_code", 12))
    city = Column(EncryptedString("client.city", 100))
    city_bidx = Column(String(32), index=True)
    #: ISO 3166-1 alpha-2
    country = Column(String(2), nullable=False, default="PL")
    #: Polish tax id, 10 digits, checksum-validated
    nip = Column(EncryptedString("client.nip", 10))
    nip_bidx = Column(String(32), index=True)
    #: Polish national id of a person, 11 digits, checksum-validated
    pesel = Column(EncryptedString("client.pesel", 11))
    pesel_bidx = Column(String(32), index=True)
    #: keyed hashes of the words of the names, for "find by one word"
    word_index = Column(Text)
    #: ``lead``, ``active`` or ``former``
    status = Column(String(10), nullable=False, default="lead", index=True)
    owner_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    owner = relationship(User, foreign_keys=[owner_id])
    remarks = Column(EncryptedText("client.remarks", 10_000))
    # Indexed: the list sorts by them, and without an index each page would scan
    # (and read every ciphertext of) the whole table.
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow, index=True)
    lock_version = Column(Integer, nullable=False)

    contacts = relationship(
        "ContactPerson", back_populates="client", cascade="all, delete-orphan"
    )
    notes = relationship("Note", back_populates="client", cascade="all, delete-orphan")
    subscriptions = relationship(
        "Subscription", back_populates="client", cascade="all, delete-orphan"
    )
    #: Read-only shortcut through subscriptions, for the "mailing list" filter.
    mailing_lists = relationship(
        "MailingList", secondary="subscription", viewonly=True
    )

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Client cards: the person, or the company and its people"),
        subject="id",
        erasure=Erasure.DELETE,
        word_index=("company_name", "first_name", "last_name"),
        masked_properties={"display_name": Personal(IDENTITY, mask="name")},
        named_by=("company_name", "first_name", "last_name"),
        columns={
            "company_name": Personal(IDENTITY),
            "first_name": Personal(IDENTITY),
            "last_name": Personal(IDENTITY),
            "email": Personal(CONTACT, blind_index="email"),
            "phone": Personal(CONTACT, blind_index="phone"),
            "street": Personal(ADDRESS),
            "postal_code": Personal(ADDRESS),
            "city": Personal(ADDRESS, blind_index="text"),
            "nip": Personal(IDENTIFIERS, blind_index="identifier"),
            "pesel": Personal(IDENTIFIERS, blind_index="identifier"),
            "remarks": Personal(FREE_TEXT),
        },
    )

    @property
    def display_name(self) -> str:
        """Company name, or first and last name of a person."""
        if self.kind == "company" and self.company_name:
            return self.company_name
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def __str__(self) -> str:
        return self.display_name or f"#{self.id}"

    def __getattr__(self, name: str):
        # ``attr_<key>``: the shown value of an admin-defined attribute, as lists and
        # cards read columns (crm.attributes); only called when no real attribute matches.
        if not name.startswith("attr_"):
            raise AttributeError(name)
        from crm.attributes.kinds import shown

        for row in self.attribute_values:
            if row.definition.key == name[5:]:
                return shown(row.definition.spec, row.stored)
        return None

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.kind} {self.status} v{self.lock_version}>"


class ContactPerson(Model):
    """A person to talk to at a company client."""

    __tablename__ = "contact_person"
    __table_args__ = (word_index_scan("contact_person"), AUTOINCREMENT)
    __versioned__: dict = {}

    id = Column(Integer, primary_key=True)
    client_id = Column(
        Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True
    )
    client = relationship(Client, back_populates="contacts")
    first_name = Column(EncryptedString("contact_person.first_name", 100), nullable=False)
    last_name = Column(EncryptedString("contact_person.last_name", 100), nullable=False)
    position = Column(EncryptedString("contact_person.position", 100))
    email = Column(EncryptedString("contact_person.email", 254))
    email_bidx = Column(String(32), index=True)
    phone = Column(EncryptedString("contact_person.phone", 32))
    phone_bidx = Column(String(32), index=True)
    word_index = Column(Text)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Contact persons of company clients"),
        subject="client_id",
        erasure=Erasure.DELETE,
        word_index=("first_name", "last_name"),
        named_by=("first_name", "last_name"),
        columns={
            "first_name": Personal(IDENTITY),
            "last_name": Personal(IDENTITY),
            "position": Personal(EMPLOYMENT),
            "email": Personal(CONTACT, blind_index="email"),
            "phone": Personal(CONTACT, blind_index="phone"),
        },
    )

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return f"<ContactPerson {self.id} of client {self.client_id}>"


class Note(Model):
    """A note or an activity (call, meeting, email) on a client card."""

    __tablename__ = "note"
    __versioned__: dict = {}
    __table_args__ = (one_of("kind", NOTE_KINDS, "ck_note_kind"), AUTOINCREMENT)

    id = Column(Integer, primary_key=True)
    client_id = Column(
        Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True
    )
    client = relationship(Client, back_populates="notes")
    #: ``call``, ``meeting``, ``email`` or ``note``
    kind = Column(String(10), nullable=False, default="note")
    occurred_on = Column(Date, nullable=False)
    text = Column(EncryptedText("note.text", 20_000), nullable=False)
    author_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    author = relationship(User, foreign_keys=[author_id])
    created_at = Column(DateTime, nullable=False, default=utcnow)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Notes and activities on client cards"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={"text": Personal(FREE_TEXT)},
    )

    def __repr__(self) -> str:
        return f"<Note {self.id} {self.kind} of client {self.client_id}>"


# Client's relationships name the mailing models; importing them here makes the
# mapper configurable whichever module is imported first.
from crm.mailing.models import MailingList, Subscription  # noqa: E402,F401

register_models(Client, ContactPerson, Note)
