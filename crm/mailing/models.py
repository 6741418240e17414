"""Mailing lists and the subscriptions of clients to them (versioned)."""

from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.constraints import AUTOINCREMENT, one_of
from crm.mailing.choices import SUBSCRIPTION_SOURCES
from crm.privacy.registry import Erasure, PersonalData, register_models
from crm.timeutil import utcnow


class MailingList(Model):
    """A list clients can be subscribed to."""

    __tablename__ = "mailing_list"
    __table_args__ = (AUTOINCREMENT,)
    __versioned__: dict = {}

    id = Column(Integer, primary_key=True)
    name = Column(String(150), nullable=False, unique=True)
    description = Column(Text)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    lock_version = Column(Integer, nullable=False)

    subscriptions = relationship(
        "Subscription", back_populates="mailing_list", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": lock_version}

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<MailingList {self.id}>"


class Subscription(Model):
    """A client on a mailing list: since when and from which source."""

    __tablename__ = "subscription"
    __versioned__: dict = {}
    __table_args__ = (
        UniqueConstraint("client_id", "mailing_list_id", name="uq_subscription_client_list"),
        one_of("source", SUBSCRIPTION_SOURCES, "ck_subscription_source"),
        AUTOINCREMENT,
    )

    id = Column(Integer, primary_key=True)
    client_id = Column(
        Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True
    )
    client = relationship("Client", back_populates="subscriptions")
    mailing_list_id = Column(
        Integer, ForeignKey("mailing_list.id", ondelete="CASCADE"), nullable=False, index=True
    )
    mailing_list = relationship(MailingList, back_populates="subscriptions")
    subscribed_at = Column(DateTime, nullable=False, default=utcnow)
    #: where the subscription came from, one of SUBSCRIPTION_SOURCES
    source = Column(String(20), nullable=False, default="manual")
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    #: No personal column of its own, but it tells which lists a client is on:
    #: it goes with the client.
    __personal_data__ = PersonalData(
        description=_l("Mailing list subscriptions of clients"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={},
    )

    def __repr__(self) -> str:
        return f"<Subscription {self.id} client {self.client_id} list {self.mailing_list_id}>"


register_models(Subscription)
