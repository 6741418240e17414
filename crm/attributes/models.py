"""Attribute definitions, the values of a card's attributes, and the built-in fields a company hides.

Definitions and values are versioned: the card's history shows its attribute
values, and the definitions' own history shows who changed or deleted them.
"""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import backref, relationship

import crm.versioning  # noqa: F401  (make_versioned before any versioned model)
from crm.attributes.kinds import KINDS, Spec, parse_choices
from crm.clients.models import Client
from crm.constraints import AUTOINCREMENT, one_of
from crm.privacy.categories import FREE_TEXT
from crm.privacy.registry import Erasure, Personal, PersonalData, register_models
from crm.privacy.types import EncryptedText


class AttributeDefinition(Model):
    """One attribute a company keeps on its client cards."""

    __tablename__ = "attribute_definition"
    __versioned__: dict = {}
    __table_args__ = (one_of("kind", KINDS, "ck_attribute_kind"), AUTOINCREMENT)

    id = Column(Integer, primary_key=True)
    #: stable name for the API and imports: lower-case letters, digits, underscores
    key = Column(String(40), nullable=False, unique=True)
    label_pl = Column(String(100), nullable=False)
    label_en = Column(String(100), nullable=False)
    kind = Column(String(20), nullable=False)
    required = Column(Boolean, nullable=False, default=False)
    #: personal data: stored encrypted, exported, erased and masked with the card
    personal = Column(Boolean, nullable=False, default=False)
    in_list = Column(Boolean, nullable=False, default=False)
    filterable = Column(Boolean, nullable=False, default=False)
    position = Column(Integer, nullable=False, default=0)
    #: archived attributes leave forms, lists and the API; their values stay
    active = Column(Boolean, nullable=False, default=True)
    #: one choice a line, for "one of" and "several of" a list
    choices = Column(Text)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}

    @property
    def spec(self) -> Spec:
        return Spec(self.key, self.kind, bool(self.required), parse_choices(self.choices))

    @property
    def label(self) -> str:
        """The label in the user's language."""
        return self.label_en if str(get_locale() or "pl").startswith("en") else self.label_pl

    @property
    def field_name(self) -> str:
        """The attribute's name in forms and lists."""
        return f"attr_{self.key}"

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"<AttributeDefinition {self.id} {self.key} {self.kind}>"


class AttributeValue(Model):
    """The value of one attribute on one card: in ``value``, or encrypted in ``secret`` when personal."""

    __tablename__ = "attribute_value"
    __versioned__: dict = {}
    __table_args__ = (UniqueConstraint("client_id", "definition_id", name="uq_attribute_value_client"), AUTOINCREMENT)

    id = Column(Integer, primary_key=True)
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True)
    client = relationship(
        Client, backref=backref("attribute_values", cascade="all, delete-orphan", lazy="selectin")
    )
    definition_id = Column(Integer, ForeignKey("attribute_definition.id", ondelete="CASCADE"), nullable=False, index=True)
    definition = relationship(AttributeDefinition, lazy="joined")
    value = Column(Text)
    secret = Column(EncryptedText("attribute_value.secret", 5000))
    #: keyed hash of a personal value, for the "equal to" filter
    secret_bidx = Column(String(32), index=True)
    lock_version = Column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": lock_version}
    __personal_data__ = PersonalData(
        description=_l("Values of admin-defined attributes (personal ones encrypted)"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={"secret": Personal(FREE_TEXT), "secret_bidx": Personal(FREE_TEXT, encrypted=False)},
    )

    @property
    def stored(self) -> str | None:
        return self.secret if self.definition.personal else self.value

    def __repr__(self) -> str:
        return f"<AttributeValue {self.id} of client {self.client_id} for {self.definition_id}>"


class FieldSetting(Model):
    """A built-in field of the card that the company does not collect (data minimisation)."""

    __tablename__ = "field_setting"

    field = Column(String(30), primary_key=True)
    hidden = Column(Boolean, nullable=False, default=False)


register_models(AttributeValue)
