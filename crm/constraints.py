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


def built_on(dialect: str):
    """Alembic's ``include_object`` for a database: leaves out what the models build on other databases only
    (``ddl_if(dialect=...)``), so that comparing the models with this database finds no difference."""

    def include(object_, name, type_, reflected, compare_to) -> bool:
        condition = getattr(object_, "_ddl_if", None) or getattr(compare_to, "_ddl_if", None)
        if condition is None or condition.dialect is None:
            return True
        dialects = (condition.dialect,) if isinstance(condition.dialect, str) else condition.dialect
        return dialect in dialects

    return include
