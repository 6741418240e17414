"""Rebuilding the word indexes of stored rows, when what a word index holds changes.

Rows are read and written through SQLAlchemy Core (no versions, no ORM events),
a batch a transaction, so an interrupted run can simply be run again.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import Text, select, type_coerce, update

from crm.privacy.crypto import decrypt, word_tokens
from crm.privacy.registry import declared
from crm.privacy.types import EncryptedString


def rebuild_word_indexes(connection, batch_size: int = 500, progress: Callable[[int], None] = lambda n: None) -> int:
    """Recompute ``word_index`` of every row of every model that has one; returns the rows rewritten."""
    rewritten = 0
    for model, declaration in declared().items():
        if not declaration.word_index:
            continue
        table = model.__table__
        key = table.c.id
        columns = [table.c[name] for name in declaration.word_index]
        last = None
        while True:
            # the stored ciphertext as text: decrypted below with each column's context
            query = select(key, *(type_coerce(column, Text()).label(column.name) for column in columns)).order_by(key).limit(batch_size)
            if last is not None:
                query = query.where(key > last)
            rows = connection.execute(query).all()
            if not rows:
                break
            for row in rows:
                values = {f"{table.name}.{column.name}": _plain(column, row._mapping[column.name]) for column in columns}
                connection.execute(update(table).where(key == row.id).values(word_index=word_tokens(values, starts=table.name)))
            rewritten += len(rows)
            progress(len(rows))
            last = rows[-1].id
    return rewritten


def _plain(column, stored):
    # an encrypted column holds ciphertext only: anything else fails here as it fails the ORM's read
    if stored is None or not isinstance(column.type, EncryptedString):
        return stored
    return decrypt(stored, column.type.context)
