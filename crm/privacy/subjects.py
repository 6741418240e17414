"""Which data key each row's personal values are sealed under: its data subject's.

The registry names, per model, the attribute holding the client (``subject``).
Before a row of such a model (or of its version table) is written, each of its
encrypted values is bound to that client's data key (:class:`Sealable`); the
column type then encrypts under it. A client gets a data key when it is first
written. A value of a client's table that reaches the column type unbound is a
bug, and the type refuses it rather than fall back to the master key.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper

from crm.privacy.crypto import Sealable
from crm.privacy.keystore import has_key_store, key_store

#: the column of the subject's own table that names its data key
DATA_KEY_COLUMN = "data_key_id"


@dataclass(frozen=True)
class SubjectTable:
    """A table of rows about clients: where the client is named, which columns are encrypted."""

    subject_column: str
    encrypted: tuple[str, ...]


_TABLES: dict[str, SubjectTable] = {}
_subject_table: list[sa.Table] = []


def track(model: type, subject: str | None, encrypted: tuple[str, ...]) -> None:  # pragma: no mutate block (runs at import or app creation)
    """Called by the registry for each declared model."""
    if subject is None:
        return
    _TABLES[model.__table__.name] = SubjectTable(subject, encrypted)
    if subject == "id":
        if DATA_KEY_COLUMN not in model.__table__.c:
            raise TypeError(f"{model.__name__} is a data subject and needs a '{DATA_KEY_COLUMN}' column.")
        _subject_table[:] = [model.__table__]


def _base_table(name: str) -> str:
    return name[: -len("_version")] if name.endswith("_version") else name


def is_subject_context(context: str) -> bool:
    """Whether a column context (``table.column``) belongs to rows about clients."""
    return context.partition(".")[0] in _TABLES


def subject_table() -> sa.Table:
    return _subject_table[0]


def _known_key_ids() -> dict:
    if has_app_context():
        if "subject_key_ids" not in g:
            g.subject_key_ids = {}
        return g.subject_key_ids
    return {}


def data_key_for(connection, client_id: int, known: dict | None = None) -> str:
    """The client's data key id, giving the client one if it has none yet (written before per-client keys).

    A deleted card (restorable from its history) names its key in its versions.
    ``known`` remembers keys already looked up (by default, for the request or command).
    """
    known = _known_key_ids() if known is None else known
    key_id = known.get(client_id)
    if key_id is None:
        table = subject_table()
        versions = table.metadata.tables.get(f"{table.name}_version")
        key_id = connection.scalar(sa.select(table.c[DATA_KEY_COLUMN]).where(table.c.id == client_id))
        if key_id is None and versions is not None:
            key_id = connection.scalar(
                sa.select(versions.c[DATA_KEY_COLUMN])
                .where(versions.c.id == client_id, versions.c[DATA_KEY_COLUMN].is_not(None))
                .order_by(versions.c.transaction_id.desc()).limit(1)
            )
        if key_id is None:
            key_id = key_store().new_key()
            connection.execute(
                sa.update(table).where(table.c.id == client_id, table.c[DATA_KEY_COLUMN].is_(None))
                .values({DATA_KEY_COLUMN: key_id})
            )
            if versions is not None:
                _name_key_in_versions(connection, versions, client_id, key_id)
            key_id = connection.scalar(sa.select(table.c[DATA_KEY_COLUMN]).where(table.c.id == client_id)) or key_id
        known[client_id] = key_id
    return key_id


def _name_key_in_versions(connection, versions: sa.Table, client_id: int, key_id: str) -> None:
    """The client's versions that name no key name ``key_id`` (a deleted card finds its key there).

    Versions are links of the accountability trail, their key column included: each one
    changed gets its "changed" link, or the trail would report it changed behind Kartoteka's back.
    """
    from crm.accountability import trail  # the trail's models import the registry, which imports this module

    unnamed = trail.keys_of(connection, versions, (versions.c.id == client_id) & versions.c[DATA_KEY_COLUMN].is_(None))
    connection.execute(sa.update(versions).where(unnamed, versions.c[DATA_KEY_COLUMN].is_(None))
                       .values({DATA_KEY_COLUMN: key_id}))
    trail.append(connection, trail.rewritten(connection, versions, unnamed))


def bind_values(values: dict, spec: SubjectTable, key_id: str | None) -> None:
    """Bind each encrypted value of a row (a dict of column values) to ``key_id`` (None: the master key)."""
    for name in spec.encrypted:
        value = values.get(name)
        if isinstance(value, str) and getattr(value, "data_key_id", False) != key_id:
            values[name] = Sealable(value, key_id)


def key_of_row(connection, table_name: str, values: dict, known: dict) -> str | None:
    """The data key a row (column values) is sealed under; a new client gets a new key in ``values``.

    ``known`` maps client ids to keys already given (rows written together, not yet in the database).
    """
    spec = _TABLES[_base_table(table_name)]
    if spec.subject_column == "id":
        if values.get(DATA_KEY_COLUMN) is None:
            values[DATA_KEY_COLUMN] = known.get(values.get("id")) or key_store().new_key()
        if values.get("id") is not None:
            known[values["id"]] = values[DATA_KEY_COLUMN]
        return values[DATA_KEY_COLUMN]
    client_id = values.get(spec.subject_column)
    return None if client_id is None else data_key_for(connection, client_id, known)


def spec_of(table_name: str) -> SubjectTable | None:
    return _TABLES.get(_base_table(table_name))


@event.listens_for(Mapper, "before_insert")
@event.listens_for(Mapper, "before_update")
def _bind_row(mapper, connection, target):
    spec = spec_of(mapper.local_table.name)
    if spec is None or (not spec.encrypted and spec.subject_column != "id"):
        # nothing to seal (a link to the client only)
        return
    state = sa.inspect(target)
    if spec.subject_column == "id":
        if target.data_key_id is None:
            target.data_key_id = key_store().new_key()
        key_id = target.data_key_id
        if mapper.local_table.name == subject_table().name and target.id is not None:
            _known_key_ids()[target.id] = key_id
    else:
        client_id = getattr(target, spec.subject_column)
        key_id = None if client_id is None else data_key_for(connection, client_id)
    bind_values(state.dict, spec, key_id)


@event.listens_for(Mapper, "after_insert")
def _remember_new_client(mapper, connection, target):
    if _subject_table and mapper.local_table is subject_table():
        _known_key_ids()[target.id] = target.data_key_id


@event.listens_for(Engine, "commit")
def _save_new_keys_first(connection):
    """New data keys reach the key store before anything sealed under them is committed.

    If the commit then fails, the store holds a key nothing uses; the other
    order could leave values sealed under a key that was never saved.
    """
    if has_key_store():
        key_store().save_pending()
