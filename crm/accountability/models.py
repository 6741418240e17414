"""Accountability records: the read-access log, the trail's links, the record of processing activities."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.accountability.kinds import READ_KIND_LABELS
from crm.constraints import AUTOINCREMENT, one_of
from crm.gdpr.choices import BASIS_LABELS
from crm.privacy.categories import ONLINE
from crm.privacy.registry import Erasure, Personal, PersonalData, register_models
from crm.privacy.types import EncryptedString
from crm.timeutil import utcnow


class ReadAccess(Model):
    """One request (a page, a download, an API call) that showed data of one or more clients."""

    __tablename__ = "read_access"
    __table_args__ = (
        one_of("kind", READ_KIND_LABELS, "ck_read_access_kind"),
        # "what did this account open on 3 March"
        Index("ix_read_access_user_time", "user_id", "occurred_at"),
        AUTOINCREMENT,
    )

    id = Column(Integer, primary_key=True)
    occurred_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    user = relationship(User)
    #: the reader's roles at the time, a JSON list of their stored names (who "received" the data, Art. 15(1)(c))
    roles = Column(String(500), nullable=False, default="[]")
    #: one of READ_KIND_LABELS
    kind = Column(String(20), nullable=False, index=True)
    #: the screen or API operation (its endpoint), named for people by crm.accountability.kinds.place_label
    place = Column(String(120), nullable=False)
    #: some of what was shown was masked for the reader
    masked = Column(Boolean, nullable=False, default=False)
    #: the cards shown; kept when an erasure removes a card from ``cards``
    card_count = Column(Integer, nullable=False, default=0)
    ip_address = Column(EncryptedString("read_access.ip_address", 64))
    cards = relationship("ReadAccessCard", back_populates="read", cascade="all, delete-orphan", passive_deletes=True)

    __personal_data__ = PersonalData(
        description=_l("Read-access log of staff accounts"),
        subject=None,
        erasure=Erasure.DELETE,
        columns={"ip_address": Personal(ONLINE)},
    )


class ReadAccessCard(Model):
    """A card shown by a read: the link between the reader's record and the person, erased with the person."""

    __tablename__ = "read_access_card"

    read_id = Column(Integer, ForeignKey("read_access.id", ondelete="CASCADE"), primary_key=True)
    #: the client's number; no foreign key, so that a card deleted (and restorable from history) keeps its readers
    client_id = Column(Integer, primary_key=True, index=True)
    read = relationship(ReadAccess, back_populates="cards")

    __personal_data__ = PersonalData(
        description=_l("Who opened the card (read-access log)"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={},
        exported=False,
    )


class AuditLink(Model):
    """One link of a chain of the tamper-evident trail (crm.accountability.trail)."""

    __tablename__ = "audit_link"
    __table_args__ = (Index("ix_audit_link_record", "record_table", "record_key"),)

    chain = Column(String(20), primary_key=True)
    seq = Column(Integer, primary_key=True, autoincrement=False)
    record_table = Column(String(64), nullable=False)
    #: the row's primary key ("12", or "12/340": id and transaction of a version)
    record_key = Column(String(64), nullable=False)
    #: ``written``, ``changed`` or ``removed``
    action = Column(String(10), nullable=False)
    #: keyed digest of the whole row's values (empty for a removal)
    digest = Column(String(64), nullable=False)
    #: keyed hash over this link and the previous one
    mac = Column(String(64), nullable=False)


class AuditHead(Model):
    """The last link of each chain: locked while a link is appended."""

    __tablename__ = "audit_head"

    chain = Column(String(20), primary_key=True)
    seq = Column(Integer, nullable=False)
    mac = Column(String(64), nullable=False)


class AuditVerification(Model):
    """The result of one verification of the trail, for the officer's screen."""

    __tablename__ = "audit_verification"
    __table_args__ = (AUTOINCREMENT,)

    id = Column(Integer, primary_key=True)
    verified_at = Column(DateTime, nullable=False, default=utcnow)
    links = Column(Integer, nullable=False)
    rows = Column(Integer, nullable=False)
    intact = Column(Boolean, nullable=False)
    #: JSON list of the first problem of each broken chain: chain, what, table, key (no personal data)
    problems = Column(String(4000), nullable=False, default="[]")


class ProcessingActivity(Model):
    """One processing activity of the record the controller keeps (Art. 30(1)); versioned, so changes are known."""

    __tablename__ = "processing_activity"
    __table_args__ = (one_of("lawful_basis", BASIS_LABELS, "ck_processing_activity_basis"), AUTOINCREMENT)
    __versioned__: dict = {}

    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, unique=True)
    purpose = Column(Text, nullable=False)
    #: one of crm.gdpr.choices.BASIS_LABELS
    lawful_basis = Column(String(30), nullable=False)
    #: keys of crm.privacy.categories, comma-separated
    data_categories = Column(String(300), nullable=False)
    #: keys of SUBJECT_CATEGORY_LABELS, comma-separated
    subject_categories = Column(String(200), nullable=False)
    #: recipients and categories of recipients, processors included
    recipients = Column(Text)
    #: transfers to third countries or international organisations, and their safeguards; empty: none
    third_countries = Column(Text)
    retention = Column(Text, nullable=False)
    security_measures = Column(Text, nullable=False)
    #: where the data comes from when not from the person (Art. 14(2)(f), 15(1)(g))
    source = Column(Text)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    def __str__(self) -> str:
        return self.name


register_models(ReadAccess, ReadAccessCard)
