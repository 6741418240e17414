"""Pure functions comparing versions of a client card; they know nothing of the database.

A card at one moment is a *snapshot*: for each section ("client", "contacts",
...) the rows that existed then, by id, each a dict of field values.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

Row = Mapping[str, object]
Snapshot = Mapping[str, Mapping[int, Row]]

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"


@dataclass(frozen=True)
class FieldChange:
    """One field of a row in two versions."""

    field: str
    old: object
    new: object

    @property
    def changed(self) -> bool:
        return self.old != self.new


@dataclass(frozen=True)
class RowDiff:
    """One row of a section in two versions of the card."""

    section: str
    row_id: int
    status: str
    fields: tuple[FieldChange, ...]


def compare_rows(old: Row | None, new: Row | None, fields: Sequence[str]) -> tuple[str, tuple[FieldChange, ...]]:
    """The status of a row between two versions (added, removed, changed, same) and every field."""
    changes = tuple(
        FieldChange(field, (old or {}).get(field), (new or {}).get(field)) for field in fields
    )
    if old is None and new is None:
        return SAME, ()
    if old is None:
        return ADDED, changes
    if new is None:
        return REMOVED, changes
    return (CHANGED if any(change.changed for change in changes) else SAME), changes


def changed_fields(old: Row | None, new: Row | None, fields: Sequence[str]) -> tuple[FieldChange, ...]:
    """Only the fields whose value differs (all non-empty ones for a created or deleted row)."""
    _status, changes = compare_rows(old, new, fields)
    return tuple(change for change in changes if change.changed)


def diff_cards(old: Snapshot, new: Snapshot, fields_of: Mapping[str, Sequence[str]]) -> list[RowDiff]:
    """Every row of every section, in section order, then by id: what each looked like in both versions."""
    result = []
    for section, fields in fields_of.items():
        old_rows, new_rows = old.get(section, {}), new.get(section, {})
        for row_id in sorted(old_rows.keys() | new_rows.keys()):
            status, changes = compare_rows(old_rows.get(row_id), new_rows.get(row_id), fields)
            result.append(RowDiff(section, row_id, status, changes))
    return result


_TOKENS = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level difference of two texts as (same|removed|added, text) pieces, in reading order."""
    old_words, new_words = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)
    for operation, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if operation == "equal":
            pieces.append((SAME, "".join(old_words[a_start:a_end])))
            continue
        if a_end > a_start:
            pieces.append((REMOVED, "".join(old_words[a_start:a_end])))
        if b_end > b_start:
            pieces.append((ADDED, "".join(new_words[b_start:b_end])))
    return pieces
