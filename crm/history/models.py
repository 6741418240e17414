"""What Continuum's tables do not say: which transactions restored a card."""

from __future__ import annotations

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Column, ForeignKey, Integer

from crm.privacy.registry import Erasure, PersonalData, register_models


class CardRestore(Model):
    """A transaction that brought a client card back to an earlier version.

    No foreign keys to the version tables: they belong to Continuum, and erasing
    a person removes their versions (this row goes with the client).
    """

    __tablename__ = "card_restore"

    #: Continuum's transaction ids are big integers (plain integers on SQLite, as there)
    transaction_id = Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False)
    client_id = Column(Integer, ForeignKey("client.id", ondelete="CASCADE"), nullable=False, index=True)
    #: the transaction whose version of the card was brought back
    restored_version = Column(BigInteger().with_variant(Integer(), "sqlite"), nullable=False)

    #: no personal column, but it tells that a person's card was restored: it goes with the person
    __personal_data__ = PersonalData(
        description=_l("Restores of client cards to earlier versions"),
        subject="client_id",
        erasure=Erasure.DELETE,
        columns={},
    )

    def __repr__(self) -> str:
        return f"<CardRestore {self.transaction_id} of client {self.client_id} to {self.restored_version}>"


register_models(CardRestore)
