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
