"""Table options shared by the models: closed vocabularies, and ids that are never reused."""

from __future__ import annotations

from sqlalchemy import CheckConstraint


def one_of(column: str, keys, name: str, nullable: bool = False) -> CheckConstraint:
    """``column IN (keys)`` (or NULL when ``nullable``), named for migrations."""
    allowed = f"{column} IN (" + ", ".join(f"'{key}'" for key in keys) + ")"
    return CheckConstraint(f"{column} IS NULL OR {allowed}" if nullable else allowed, name=name)


#: ``__table_args__`` entry: on SQLite an id is never handed out twice (AUTOINCREMENT),
#: so a new row cannot inherit a deleted row's history; PostgreSQL sequences never reuse ids.
AUTOINCREMENT = {"sqlite_autoincrement": True}
