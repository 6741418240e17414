"""The column types of encrypted personal values."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.types import TypeDecorator

from crm.privacy.crypto import decrypt, encrypt


class EncryptedString(TypeDecorator):
    """A short value stored as AES-GCM ciphertext; ``context`` is ``table.column``.

    ``length`` limits the plaintext (forms and the API read it); the stored
    ciphertext is longer, so the database column has no length. Equality in SQL
    cannot work on randomised ciphertext: search goes through blind indexes
    (:mod:`crm.privacy.filters`).
    """

    impl = String
    cache_ok = True

    def __init__(self, context: str, length: int | None = None):
        super().__init__()
        self.context = context
        self.length = length

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(str(value), self.context)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return decrypt(value, self.context)

    def copy(self, **kwargs):
        return type(self)(self.context, self.length)


class EncryptedText(EncryptedString):
    """A long free text stored as ciphertext (edited in a text area)."""

    impl = Text
    cache_ok = True
