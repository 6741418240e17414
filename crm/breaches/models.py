"""The breach register (Art. 33(5)): each personal data breach, its 72-hour clock, and the persons it affected."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.constraints import AUTOINCREMENT
from crm.privacy.registry import Erasure, PersonalData, register_models
from crm.timeutil import utcnow


class Breach(Model):
    """One breach: what happened, when it was discovered, what was done, when the authority was told."""

    __tablename__ = "breach"
    __table_args__ = (AUTOINCREMENT,)
    __versioned__: dict = {}

    id = Column(Integer, primary_key=True)
    title = Column(String(200), nullable=False)
    #: may be unknown at first
    occurred_at = Column(DateTime)
    #: the 72 hours of Art. 33(1) run from here
    discovered_at = Column(DateTime, nullable=False, index=True)
    description = Column(Text, nullable=False)
    #: keys of crm.privacy.categories and of SUBJECT_CATEGORY_LABELS, comma-separated
    data_categories = Column(String(300), nullable=False)
    subject_categories = Column(String(200), nullable=False)
    consequences = Column(Text, nullable=False)
    measures = Column(Text, nullable=False)
    #: a high risk to the persons: they must be told too (Art. 34)
    high_risk = Column(Boolean, nullable=False, default=False)
    reported_at = Column(DateTime)
    authority_reference = Column(String(100))
    #: why the report came after 72 hours (Art. 33(1))
    delay_reason = Column(Text)
    affected_count = Column(Integer, nullable=False, default=0)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_by = relationship(User)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    def __str__(self) -> str:
        return self.title

    @property
    def notification(self) -> tuple[str, int]:
        """The 72-hour clock: its state and the whole hours left (crm.breaches.service)."""
        from crm.breaches.service import clock, hours_left

        return clock(self), hours_left(self)


class BreachPerson(Model):
    """A person a breach affected, and what of theirs was involved ("opened 3 times, changed once")."""

    __tablename__ = "breach_person"

    breach_id = Column(Integer, ForeignKey("breach.id", ondelete="CASCADE"), primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), primary_key=True, index=True)
    openings = Column(Integer, nullable=False, default=0)
    changes = Column(Integer, nullable=False, default=0)
    #: when the person was told (Art. 34), and how: "email" or "letter" (printed from the letters document)
    notified_at = Column(DateTime)
    notified_by = Column(String(10))

    __personal_data__ = PersonalData(
        description=_l("Persons affected by a data breach"),
        columns={},
        subject="client_id",
        erasure=Erasure.DELETE,
        # the person is told of a breach by its letter (Art. 34); the breach counts them after an erasure
        exported=False,
    )


register_models(BreachPerson)
