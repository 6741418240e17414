"""Data-subject requests, consents, restrictions, and the records the GDPR tools keep.

Requests and the event record outlive an erasure: a request loses its link to
the person and its free text, an event never holds personal data at all.
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import backref, relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.constraints import AUTOINCREMENT, one_of
from crm.clients.models import Client
from crm.gdpr.choices import (
    BASIS_LABELS,
    CONSENT_SOURCE_LABELS,
    EVENT_LABELS,
    PURPOSE_LABELS,
    REQUEST_KIND_LABELS,
    REQUEST_STATUS_LABELS,
    VERIFICATION_LABELS,
)
from crm.public.models import PublicRequest
from crm.privacy.categories import CONTACT, FREE_TEXT
from crm.privacy.registry import Erasure, Personal, PersonalData, register_models
from crm.privacy.types import EncryptedText
from crm.timeutil import utcnow


class DataSubjectRequest(Model):
    """A request of a person exercising a right, with its deadline and outcome."""

    __tablename__ = "data_subject_request"
    __versioned__: dict = {}
    __table_args__ = (
        one_of("kind", REQUEST_KIND_LABELS, "ck_request_kind"),
        one_of("status", REQUEST_STATUS_LABELS, "ck_request_status"),
        one_of("verification_method", VERIFICATION_LABELS, "ck_request_verification", nullable=True),
        AUTOINCREMENT,
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    #: emptied when the person is erased; the request stays as proof
    client_id = Column(Integer, ForeignKey("client.id", ondelete="SET NULL"), index=True)
    client = relationship(Client)
    received_on = Column(Date, nullable=False)
    #: one month from receipt (Art. 12(3)); extended_until when extended
    due_on = Column(Date, nullable=False, index=True)
    extended_until = Column(Date)
    extension_reason = Column(EncryptedText("data_subject_request.extension_reason", 2000))
    verification_method = Column(String(30))
    verified_on = Column(Date)
    verified_by_id = Column(Integer, ForeignKey("ab_user.id"))
    verified_by = relationship(User, foreign_keys=[verified_by_id])
    status = Column(String(20), nullable=False, default="received", index=True)
    handler_id = Column(Integer, ForeignKey("ab_user.id"), index=True)
    handler = relationship(User, foreign_keys=[handler_id])
    outcome = Column(EncryptedText("data_subject_request.outcome", 5000))
    completed_on = Column(Date)
    #: made by the person on the public form (its email and text are there)
    public_request_id = Column(
        Integer, ForeignKey("public_request.id", ondelete="SET NULL", name="fk_data_subject_request_public_request"), index=True,
    )
    public_request = relationship(PublicRequest, passive_deletes=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Data-subject requests (kept as proof without personal data after an erasure)"),
        subject="client_id",
        erasure=Erasure.ANONYMISE,
        columns={"extension_reason": Personal(FREE_TEXT), "outcome": Personal(FREE_TEXT)},
    )

    @property
    def deadline(self):
        """The date the answer is due: the extension if there is one."""
        return self.extended_until or self.due_on

    def __str__(self) -> str:
        return f"#{self.id}"

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<DataSubjectRequest {self.id} {self.kind} {self.status}>"


class Consent(Model):
    """A lawful basis for one purpose of processing a client's data; withdrawn_on ends it."""

    __tablename__ = "consent"
    __versioned__: dict = {}
    __table_args__ = (
        one_of("purpose", PURPOSE_LABELS, "ck_consent_purpose"),
        one_of("lawful_basis", BASIS_LABELS, "ck_consent_basis"),
        one_of("source", CONSENT_SOURCE_LABELS, "ck_consent_source"),
        AUTOINCREMENT,
    )

    id = Column(Integer, primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True)
    # deleting a card deletes its consents (their versions keep the proof in the card's history)
    client = relationship(Client, backref=backref("consents", cascade="all, delete-orphan"))
    purpose = Column(String(30), nullable=False)
    lawful_basis = Column(String(30), nullable=False)
    given_on = Column(Date, nullable=False)
    source = Column(String(20), nullable=False)
    #: where the proof is (a scan's reference, the form's submission, the call's note)
    evidence = Column(EncryptedText("consent.evidence", 2000))
    withdrawn_on = Column(Date)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Consents and other lawful bases of processing"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={"evidence": Personal(FREE_TEXT)},
    )

    def __repr__(self) -> str:  # pragma: no mutate block (a developer's console text)
        return f"<Consent {self.id} {self.purpose} of client {self.client_id}>"


class Restriction(Model):
    """Processing of a client restricted (Art. 18): viewable, not editable, not mailed or exported to lists."""

    __tablename__ = "restriction"
    __table_args__ = (AUTOINCREMENT,)
    __versioned__: dict = {}

    id = Column(Integer, primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True)
    client = relationship(Client, backref=backref("restrictions", cascade="all, delete-orphan"))
    since = Column(Date, nullable=False)
    #: the restriction ends by itself on this day, if given
    until = Column(Date)
    reason = Column(EncryptedText("restriction.reason", 2000), nullable=False)
    lifted_on = Column(Date)
    created_by_id = Column(Integer, ForeignKey("ab_user.id"))
    created_by = relationship(User, foreign_keys=[created_by_id])
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Restrictions of processing and their reasons"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={"reason": Personal(FREE_TEXT)},
    )


class GdprEvent(Model):
    """An export or an erasure: who, when, for which request, how much. No personal data.

    ``client_id`` is a plain number, not a reference: it outlives the client.
    """

    __tablename__ = "gdpr_event"
    __table_args__ = (
        one_of("kind", EVENT_LABELS, "ck_gdpr_event_kind"),
        AUTOINCREMENT,
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    occurred_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    user = relationship(User)
    client_number = Column(Integer, nullable=False, index=True)
    request_id = Column(Integer, ForeignKey("data_subject_request.id", ondelete="SET NULL"))
    request = relationship(DataSubjectRequest)
    #: why, when no request is named ("retention period ended"); the form asks for no personal data in it
    reason = Column(Text)
    #: what went from each place (erasure) or what the download held (export), as JSON
    counts = Column(Text, nullable=False, default="{}")


class Suppression(Model):
    """A keyed hash of a value an erased person had, so that it is not brought back unnoticed.

    See :mod:`crm.gdpr.suppression`: one row a value (email, phone, NIP, PESEL), the
    hash under the suppression list's own key.
    """

    __tablename__ = "suppression"

    id = Column(Integer, primary_key=True)
    digest = Column(String(32), nullable=False, index=True)
    #: an entry from before: the blind index of an email or phone, not the list's own hash
    under_index_key = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    event_id = Column(Integer, ForeignKey("gdpr_event.id", ondelete="SET NULL"))

    __personal_data__ = PersonalData(
        description=_l("Suppression list: keyed hashes of erased persons' email, phone, NIP and PESEL"),
        subject=None,
        erasure=Erasure.DELETE,
        columns={"digest": Personal(CONTACT, encrypted=False)},
    )


register_models(DataSubjectRequest, Consent, Restriction, Suppression)


class DeadlineReminder(Model):
    """One reminder sent: of which request, how many days before its deadline."""

    __tablename__ = "deadline_reminder"
    __table_args__ = (UniqueConstraint("request_id", "days", name="uq_deadline_reminder"), AUTOINCREMENT)

    id = Column(Integer, primary_key=True)
    request_id = Column(
        Integer, ForeignKey("data_subject_request.id", ondelete="CASCADE", name="fk_deadline_reminder_request"),
        nullable=False,
    )
    days = Column(Integer, nullable=False)
    sent_at = Column(DateTime, nullable=False, default=utcnow)
