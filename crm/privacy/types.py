"""The column types of encrypted personal values."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.types import TypeDecorator

from crm.privacy.crypto import Sealable, decrypt, encrypt, encrypt_for_subject
from crm.privacy.subjects import is_subject_context


class UnboundPersonalValue(RuntimeError):
    """A client's personal value reached the database without its data subject's key."""


class EncryptedString(TypeDecorator):
    """A short value stored as AES-GCM ciphertext; ``context`` is ``table.column``.

    A client's value is sealed under the client's own data key (bound to it by
    :mod:`crm.privacy.subjects`), anything else under the key file's current key.
    ``length`` limits the plaintext (forms and the API read it); the stored
    ciphertext is longer, so the database column has no length. Equality in SQL
    cannot work on randomised ciphertext: search goes through blind indexes
    (:mod:`crm.privacy.filters`).
    """

    impl = String
    cache_ok = True

    def __init__(self, context: str, length: int | None = None):  # pragma: no mutate block (runs at import or app creation)
        super().__init__()
        self.context = context
        self.length = length

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        data_key_id = getattr(value, "data_key_id", None)
        if data_key_id:
            return encrypt_for_subject(str(value), self.context, data_key_id)
        if not isinstance(value, Sealable) and is_subject_context(self.context):
            raise UnboundPersonalValue(f"A value of {self.context} was not bound to its data subject's key.")
        return encrypt(str(value), self.context)

    def process_result_value(self, value, dialect):
        # a value read back is bound again, to its row's client, before it is written anywhere (crm.privacy.subjects)
        return None if value is None else decrypt(value, self.context)

    def copy(self, **kwargs):  # pragma: no mutate block (runs at import or app creation)
        return type(self)(self.context, self.length)


class EncryptedText(EncryptedString):
    """A long free text stored as ciphertext (edited in a text area)."""

    impl = Text
    cache_ok = True
