"""Requests people make themselves on the public form: pending until their email link is followed."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String

from crm.constraints import AUTOINCREMENT, one_of
from crm.gdpr.choices import REQUEST_KIND_LABELS
from crm.privacy.categories import CONTACT, FREE_TEXT
from crm.privacy.registry import Erasure, Personal, PersonalData, register_models
from crm.privacy.types import EncryptedString, EncryptedText
from crm.timeutil import utcnow


class PublicRequest(Model):
    """One request sent on the public form: who may answer it (their email), what they ask, its links' hashes.

    Tokens are stored as SHA-256 hashes only; the verification token is used once.
    Once verified, the data-subject requests it registered point back here.
    """

    __tablename__ = "public_request"
    __table_args__ = (one_of("kind", REQUEST_KIND_LABELS, "ck_public_request_kind"), AUTOINCREMENT)

    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    email = Column(EncryptedString("public_request.email", 320), nullable=False)
    email_bidx = Column(String(32), index=True)
    phone = Column(EncryptedString("public_request.phone", 64))
    phone_bidx = Column(String(32))
    text = Column(EncryptedText("public_request.text", 2000))
    submitted_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    verification_hash = Column(String(64), nullable=False, unique=True)
    verified_at = Column(DateTime)
    status_hash = Column(String(64), unique=True)
    #: the first card the email or phone matched: erasing that person takes this request (and its links) too
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), index=True)

    __personal_data__ = PersonalData(
        description=_l("Requests sent on the public form"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={
            "email": Personal(CONTACT, blind_index="email"),
            "phone": Personal(CONTACT, blind_index="phone"),
            "text": Personal(FREE_TEXT),
        },
        derived=("email_bidx", "phone_bidx"),
        exported=False,
    )


register_models(PublicRequest)


class Handover(Model):
    """An export sent to the person: a link by email and a code given another way; both needed, once, in time."""

    __tablename__ = "handover"
    __table_args__ = (AUTOINCREMENT,)

    id = Column(Integer, primary_key=True)
    request_id = Column(Integer, ForeignKey("data_subject_request.id", ondelete="SET NULL"), index=True)
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True)
    #: where the link was sent
    email = Column(EncryptedString("handover.email", 320), nullable=False)
    language = Column(String(2), nullable=False, default="pl")
    token_hash = Column(String(64), nullable=False, unique=True)
    code_hash = Column(String(64), nullable=False)
    sent_at = Column(DateTime, nullable=False, default=utcnow)
    sent_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    expires_at = Column(DateTime, nullable=False)
    failed_codes = Column(Integer, nullable=False, default=0)
    downloaded_at = Column(DateTime)

    __personal_data__ = PersonalData(
        description=_l("Exports sent to the person (link and code)"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={"email": Personal(CONTACT)},
        exported=False,
    )


register_models(Handover)
