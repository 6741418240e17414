"""Many new rows at once, written as the ORM and Continuum would write them, a table at a time.

The ORM with Continuum spends about 3 ms of Python per imported card (version
objects built and flushed a second time). Here the same rows are made once:
unsaved model objects compute their blind and word indexes (the registry's set
events), values are encrypted as their column types would, each row gets its
Continuum version row (an insert, ending nowhere) and all share one recorded
transaction (who, from where, when); then one executemany per table. Only new
rows: nothing here updates or deletes. Imports and the benchmarks' dataset
(bench/dataset.py) write through it.
"""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy_continuum import version_class, versioning_manager
from sqlalchemy_continuum.operation import Operation

from crm.accountability import trail
from crm.privacy import subjects
from crm.privacy.types import EncryptedString


def columns_of(row_object) -> dict:
    """Column values of an unsaved model object, with what its set events computed (blind and word indexes)."""
    mapper = sa.inspect(row_object).mapper
    return {attr.columns[0].name: getattr(row_object, attr.key) for attr in mapper.column_attrs}


def _plain_table(table: sa.Table) -> sa.TableClause:
    """``table`` with encrypted columns as plain strings: the values arrive encrypted."""
    columns = [sa.column(c.name, sa.String() if isinstance(c.type, EncryptedString) else c.type) for c in table.columns]
    return sa.table(table.name, *columns)


class BulkWriter:
    """Collects new rows and their versions, then writes them with one statement per table."""

    def __init__(self, connection: sa.Connection):
        self.connection = connection
        self.pending: dict[sa.Table, list[dict]] = {}
        #: links of the accountability trail for the transactions and versions written
        self.links: list = []
        self.next_ids: dict[sa.Table, int] = {}
        #: each client's data key, for the rows about it written together (crm.privacy.subjects)
        self.data_keys: dict[int, str] = {}
        if connection.dialect.name == "sqlite":
            # Take SQLite's write lock before reading the highest ids, so that no
            # other writer can take the same ones before this transaction commits.
            connection.execute(sa.text("UPDATE sqlite_sequence SET seq = seq WHERE 0"))

    def new_ids(self, table: sa.Table, count: int) -> list[int]:
        """Ids no row has ever had: from the table's sequence, or past SQLite's AUTOINCREMENT mark."""
        if self.connection.dialect.name == "postgresql":
            sequence = _sequence_of(self.connection, table)
            return list(self.connection.execute(
                sa.text("SELECT nextval(:sequence) FROM generate_series(1, :count)"),
                {"sequence": sequence, "count": count},
            ).scalars())
        if table not in self.next_ids:
            highest = self.connection.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0
            used = self.connection.execute(
                sa.text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": table.name}
            ).scalar() or 0
            self.next_ids[table] = max(highest, used) + 1
        first = self.next_ids[table]
        self.next_ids[table] += count
        return list(range(first, first + count))

    def transaction(self, user_id: int | None, remote_addr: str | None, issued_at: datetime) -> int:
        """A Continuum transaction row (who, from where, when) for versions to name; returns its id."""
        return self.transactions([(user_id, remote_addr, issued_at)])[0]

    def transactions(self, recorded: list[tuple[int | None, str | None, datetime]]) -> list[int]:
        """Several transaction rows, each (user id, remote address, issued at); returns their ids."""
        table = versioning_manager.transaction_cls.__table__
        ids = self.new_ids(table, len(recorded))
        for transaction_id, (user_id, remote_addr, issued_at) in zip(ids, recorded):
            row = {"id": transaction_id, "user_id": user_id, "remote_addr": remote_addr, "issued_at": issued_at}
            self.pending.setdefault(table, []).append(self._sealed(table, row))
            self._link(table, self.pending[table][-1], row)
        return ids

    def add(self, model: type, row: dict, transaction_id: int, end: int | None = None,
            operation: int = Operation.INSERT, live: bool = True) -> None:
        """A row of ``model`` and its version in ``transaction_id``; ``live=False`` writes the version only."""
        sealed = self._sealed(model.__table__, row)
        if live:
            self.pending.setdefault(model.__table__, []).append(sealed)
        version_table = version_class(model).__table__
        version = {**sealed, "transaction_id": transaction_id, "end_transaction_id": end, "operation_type": operation}
        self.pending.setdefault(version_table, []).append(version)
        self._link(version_table, version, row)

    def _link(self, table: sa.Table, stored: dict, plain: dict) -> None:
        """The trail's link of a row written as ``stored``, digested with its values in clear (from ``plain``)."""
        values = {**stored, **{name: plain[name] for name in _encrypted_columns(table) if name in plain}}
        self.links.append(trail.written(table, values))

    def _sealed(self, table: sa.Table, row: dict) -> dict:
        row = dict(row)
        spec = subjects.spec_of(table.name)
        if spec is not None:
            subjects.bind_values(row, spec, subjects.key_of_row(self.connection, table.name, row, self.data_keys))
        sealed = {}
        for column in table.columns:
            value = row.get(column.name)
            if value is None and column.default is not None and not column.primary_key:
                value = column.default.arg(None) if column.default.is_callable else column.default.arg
            if value is not None and isinstance(column.type, EncryptedString):
                value = column.type.process_bind_param(value, self.connection.dialect)
            sealed[column.name] = value
        return sealed

    def flush(self) -> None:
        """Write what was added, one executemany per table."""
        for table, rows in self.pending.items():
            if rows:
                self.connection.execute(_plain_table(table).insert(), rows)
        self.pending = {}
        if self.links:
            trail.append(self.connection, self.links)
            self.links = []


@functools.lru_cache(maxsize=None)
def _encrypted_columns(table: sa.Table) -> tuple[str, ...]:
    return tuple(column.name for column in table.columns if isinstance(column.type, EncryptedString))


def _sequence_of(connection, table: sa.Table) -> str:
    # Continuum's transaction names its own sequence; the others are serial columns
    default = table.c.id.default
    if isinstance(default, sa.Sequence):
        return default.name
    return connection.execute(sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table.name}).scalar()
