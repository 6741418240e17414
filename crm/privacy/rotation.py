"""Re-encrypting stored personal values under the key each belongs under.

A client's values go under the client's own data key (from the key store; a
client written before per-client keys gets one here: this is also the
migration to them), everything else under the key file's current key. Rotating
the master key itself only re-wraps the data keys (:meth:`KeyStore.rewrap`):
values already under their data key are not touched.

Rows are read and written through SQLAlchemy Core with the ciphertext as plain
text, so rotation creates no versions and fires no ORM events. Each batch is its
own transaction: an interrupted run leaves every value readable (old key or new)
and the next run carries on, skipping what is already under its key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from sqlalchemy import Table, Text, func, select, tuple_, type_coerce, update

from crm.privacy import subjects
from crm.privacy.crypto import data_key_id_of, decrypt, encrypt, encrypt_for_subject, key_id_of
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


def _subject_column(spec: EncryptedTable):
    subject = subjects.spec_of(spec.table.name)
    return None if subject is None else spec.table.c[subject.subject_column]


def _batches(engine, spec: EncryptedTable, batch_size: int) -> Iterator[list]:
    # Each batch is read in a short transaction of its own: SQLite cannot commit
    # a write while another connection still holds a read.
    keys = list(spec.table.primary_key.columns)
    subject = _subject_column(spec)
    extra = [subject.label("subject_of_row")] if subject is not None else []
    last = None
    while True:
        query = select(*keys, *extra, *(_raw(spec.table.c[name]).label(name) for name in spec.columns))
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
        by_subject = _subject_column(spec) is not None
        for rows in _batches(engine, spec, batch_size):
            with engine.begin() as writer:
                changes = []
                for row in rows:
                    data_key_id = None
                    if by_subject and row.subject_of_row is not None:
                        data_key_id = subjects.data_key_for(writer, row.subject_of_row)
                    values = {}
                    for name, context in spec.columns.items():
                        stored = row._mapping[name]
                        if stored is None or _is_under(stored, data_key_id, ring):
                            continue
                        plaintext = decrypt(stored, context, ring) if key_id_of(stored) else stored
                        values[name] = (
                            encrypt_for_subject(plaintext, context, data_key_id) if data_key_id
                            else encrypt(plaintext, context, ring)
                        )
                    if values:
                        changes.append((tuple(row[: len(keys)]), values))
                for key_values, values in changes:
                    condition = tuple_(*keys) == tuple_(*key_values)
                    statement = update(spec.table).where(condition).values(
                        {spec.table.c[name]: _raw_value(value) for name, value in values.items()}
                    )
                    writer.execute(statement)
            rewritten += sum(len(values) for _, values in changes)
            progress(len(rows))
    return rewritten


def _is_under(stored: str, data_key_id: str | None, ring: KeyRing) -> bool:
    """Whether a stored value is already under the key it belongs under."""
    if data_key_id:
        return data_key_id_of(stored) == data_key_id
    return data_key_id_of(stored) is None and key_id_of(stored) == ring.current_id


def _raw_value(value: str):
    return type_coerce(value, Text())
