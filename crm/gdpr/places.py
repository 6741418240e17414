"""Where a person's data lives, read from the personal-data registry.

Every declared model with a data subject is a place, and so is its version
table when the model is versioned. Erasure and export both walk these places;
nobody lists tables by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.orm import configure_mappers
from sqlalchemy_continuum import version_class

from crm.privacy.registry import Erasure, PersonalData, declared


@dataclass(frozen=True)
class Place:
    """One model holding rows about a client (and its version table, if versioned)."""

    model: type
    declaration: PersonalData

    @property
    def table(self) -> Table:
        return self.model.__table__

    @property
    def version_table(self) -> Table | None:
        if not hasattr(self.model, "__versioned__"):
            return None
        return version_class(self.model).__table__

    @property
    def subject_column(self) -> str:
        return self.declaration.subject

    @property
    def erasure(self) -> Erasure:
        return self.declaration.erasure

    @property
    def label(self) -> str:
        return str(self.declaration.description)

    def personal_columns(self) -> list[str]:
        """Personal columns and the keyed hashes derived from them."""
        return [*self.declaration.columns, *self.declaration.derived]

    def rows_of(self, table: Table, client_id: int):
        return table.c[self.subject_column] == client_id


def places() -> list[Place]:
    """Every place of a client's data, children before parents (the order deletion needs)."""
    configure_mappers()
    found = [Place(model, declaration) for model, declaration in declared().items() if declaration.subject is not None]
    # the client itself (subject "id") last: the others refer to it
    return sorted(found, key=lambda place: place.subject_column == "id")


def place_labels() -> dict[str, str]:
    """Each place's table name and how a person reads it ("client" -> "Client cards")."""
    return {place.table.name: place.label for place in places()}


def counts(session, client_id: int) -> dict[str, tuple[int, int]]:
    """Rows and versions held about a client in each place, by table name."""
    result = {}
    for place in places():
        live = session.scalar(select(func.count()).select_from(place.table).where(place.rows_of(place.table, client_id)))
        versions = 0
        if place.version_table is not None:
            versions = session.scalar(
                select(func.count()).select_from(place.version_table).where(place.rows_of(place.version_table, client_id))
            )
        result[place.table.name] = (live, versions)
    return result
