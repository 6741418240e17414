"""The client card (karta kontrahenta), its contact persons and its notes.

Every row here is versioned by SQLAlchemy-Continuum (``__versioned__``).
``lock_version`` is SQLAlchemy's version counter: an UPDATE names the counter it
read, so of two saves of one card the second matches no row and fails instead
of overwriting the first (optimistic locking, see :mod:`crm.locking`).
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.clients.choices import CLIENT_KINDS, CLIENT_STATUSES, NOTE_KINDS
from crm.timeutil import utcnow


def _in(column: str, values) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Client(Model):
    """A client card: a person or a company."""

    __tablename__ = "client"
    __versioned__: dict = {}
    __table_args__ = (
        CheckConstraint(_in("kind", CLIENT_KINDS), name="ck_client_kind"),
        CheckConstraint(_in("status", CLIENT_STATUSES), name="ck_client_status"),
    )

    id = Column(Integer, primary_key=True)
    #: ``person`` or ``company``
    kind = Column(String(10), nullable=False, default="company")
    company_name = Column(String(200))
    first_name = Column(String(100))
    last_name = Column(String(100), index=True)
    email = Column(String(254))
    phone = Column(String(32))
    street = Column(String(200))
    postal_code = Column(String(12))
    city = Column(String(100), index=True)
    #: ISO 3166-1 alpha-2
    country = Column(String(2), nullable=False, default="PL")
    #: Polish tax id, 10 digits, checksum-validated
    nip = Column(String(10))
    #: Polish national id of a person, 11 digits, checksum-validated
    pesel = Column(String(11))
    #: ``lead``, ``active`` or ``former``
    status = Column(String(10), nullable=False, default="lead", index=True)
    owner_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    owner = relationship(User, foreign_keys=[owner_id])
    remarks = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
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

    @property
    def display_name(self) -> str:
        """Company name, or first and last name of a person."""
        if self.kind == "company" and self.company_name:
            return self.company_name
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def __str__(self) -> str:
        return self.display_name or f"#{self.id}"

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.kind} {self.status} v{self.lock_version}>"


class ContactPerson(Model):
    """A person to talk to at a company client."""

    __tablename__ = "contact_person"
    __versioned__: dict = {}

    id = Column(Integer, primary_key=True)
    client_id = Column(
        Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True
    )
    client = relationship(Client, back_populates="contacts")
    first_name = Column(String(100), nullable=False)
    last_name = Column(String(100), nullable=False)
    position = Column(String(100))
    email = Column(String(254))
    phone = Column(String(32))
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return f"<ContactPerson {self.id} of client {self.client_id}>"


class Note(Model):
    """A note or an activity (call, meeting, email) on a client card."""

    __tablename__ = "note"
    __versioned__: dict = {}
    __table_args__ = (CheckConstraint(_in("kind", NOTE_KINDS), name="ck_note_kind"),)

    id = Column(Integer, primary_key=True)
    client_id = Column(
        Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True
    )
    client = relationship(Client, back_populates="notes")
    #: ``call``, ``meeting``, ``email`` or ``note``
    kind = Column(String(10), nullable=False, default="note")
    occurred_on = Column(Date, nullable=False)
    text = Column(Text, nullable=False)
    author_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    author = relationship(User, foreign_keys=[author_id])
    created_at = Column(DateTime, nullable=False, default=utcnow)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    def __repr__(self) -> str:
        return f"<Note {self.id} {self.kind} of client {self.client_id}>"


# Client's relationships name the mailing models; importing them here makes the
# mapper configurable whichever module is imported first.
from crm.mailing.models import MailingList, Subscription  # noqa: E402,F401
