"""Re-encrypting every stored personal value under the current key.

Rows are read and written through SQLAlchemy Core with the ciphertext as plain
text, so rotation creates no versions and fires no ORM events. Each batch is its
own transaction: an interrupted run leaves every value readable (old key or new)
and the next run carries on, skipping what is already under the current key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from sqlalchemy import Table, Text, func, select, tuple_, type_coerce, update

from crm.privacy.crypto import decrypt, encrypt, key_id_of
from crm.privacy.keys import KeyRing
from crm.privacy.types import EncryptedString


@dataclass(frozen=True)
class EncryptedTable:
    """A table and its encrypted columns (context per column)."""

    table: Table
    columns: dict[str, str]


def encrypted_tables(metadata) -> list[EncryptedTable]:
    """Every table with encrypted columns: live, version and transaction tables."""
    found = []
    for table in metadata.sorted_tables:
        columns = {c.name: c.type.context for c in table.columns if isinstance(c.type, EncryptedString)}
        if columns:
            found.append(EncryptedTable(table, columns))
    return found


def _raw(column):
    return type_coerce(column, Text())


def _batches(engine, spec: EncryptedTable, batch_size: int) -> Iterator[list]:
    # Each batch is read in a short transaction of its own: SQLite cannot commit
    # a write while another connection still holds a read.
    keys = list(spec.table.primary_key.columns)
    last = None
    while True:
        query = select(*keys, *(_raw(spec.table.c[name]).label(name) for name in spec.columns))
        if last is not None:
            query = query.where(tuple_(*keys) > tuple_(*last))
        with engine.connect() as connection:
            rows = connection.execute(query.order_by(*keys).limit(batch_size)).all()
        if not rows:
            return
        yield rows
        last = tuple(rows[-1][: len(keys)])


def count_rows(engine, specs: list[EncryptedTable]) -> int:
    """Rows to visit, for a progress bar."""
    with engine.connect() as connection:
        return sum(connection.execute(select(func.count()).select_from(spec.table)).scalar() for spec in specs)


def rotate(
    engine,
    specs: list[EncryptedTable],
    ring: KeyRing,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Re-encrypt every value not under ``ring``'s current key; returns values rewritten.

    A value that is not ciphertext yet (a column that just became encrypted) is
    encrypted as well.
    """
    rewritten = 0
    for spec in specs:
        keys = list(spec.table.primary_key.columns)
        for rows in _batches(engine, spec, batch_size):
            changes = []
            for row in rows:
                values = {}
                for name, context in spec.columns.items():
                    stored = row._mapping[name]
                    if stored is None or key_id_of(stored) == ring.current_id:
                        continue
                    plaintext = decrypt(stored, context, ring) if key_id_of(stored) else stored
                    values[name] = encrypt(plaintext, context, ring)
                if values:
                    changes.append((tuple(row[: len(keys)]), values))
            if changes:
                with engine.begin() as writer:
                    for key_values, values in changes:
                        condition = tuple_(*keys) == tuple_(*key_values)
                        statement = update(spec.table).where(condition).values(
                            {spec.table.c[name]: _raw_value(value) for name, value in values.items()}
                        )
                        writer.execute(statement)
                rewritten += sum(len(values) for _, values in changes)
            progress(len(rows))
    return rewritten


def _raw_value(value: str):
    return type_coerce(value, Text())
