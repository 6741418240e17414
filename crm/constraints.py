"""Check constraints shared by the models: a column holds one of a closed vocabulary's keys."""

from __future__ import annotations

from sqlalchemy import CheckConstraint


def one_of(column: str, keys, name: str, nullable: bool = False) -> CheckConstraint:
    """``column IN (keys)`` (or NULL when ``nullable``), named for migrations."""
    allowed = f"{column} IN (" + ", ".join(f"'{key}'" for key in keys) + ")"
    return CheckConstraint(f"{column} IS NULL OR {allowed}" if nullable else allowed, name=name)
