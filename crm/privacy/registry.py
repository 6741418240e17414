"""The personal-data registry: one declaration per model of where personal data lives.

A model declares ``__personal_data__ = PersonalData(...)`` next to its columns
(FAB's and Continuum's classes are declared with :func:`declare`). Encryption is
the column's type; blind indexes and word indexes are kept up to date here, from
the declaration; erasure, export, masking and the "what we hold" page read it.
A test walks every mapped table and fails for a personal-looking column that no
declaration names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sqlalchemy import event

from crm.privacy import subjects
from crm.privacy.crypto import blind_index, word_tokens
from crm.privacy.types import EncryptedString


class Erasure(enum.Enum):
    """What erasing the data subject does to a row."""

    #: the row goes (with its versions)
    DELETE = "delete"
    #: the personal columns are emptied, the row stays (e.g. a staff account that acted)
    ANONYMISE = "anonymise"


@dataclass(frozen=True)
class Personal:
    """One personal column.

    ``category`` is a translated label for the record of processing;
    ``blind_index`` names a normaliser (email, phone, identifier, text) when the
    column is found by exact match through ``<column>_bidx``.
    """

    category: object
    encrypted: bool = True
    blind_index: str | None = None
    #: how the value is masked for staff who may not see it (crm.privacy.masking);
    #: by default the blind-index kind, else by category
    mask: str | None = None


@dataclass(frozen=True)
class PersonalData:
    """The declaration of a model.

    ``subject`` is the attribute holding the data subject's client id (``id`` on
    the client itself), or None when the rows are about staff, not clients.
    ``word_index`` names the columns whose words are findable one by one; their
    keyed word hashes live in the model's ``word_index`` column.
    """

    description: object
    columns: dict[str, Personal]
    erasure: Erasure
    subject: str | None
    word_index: tuple[str, ...] = ()
    #: columns that hold keyed hashes of personal values (indexes), erased with the row
    derived: tuple[str, ...] = field(default=())
    #: properties computed from personal columns (a display name): their category and mask
    masked_properties: dict[str, Personal] = field(default_factory=dict)
    #: the row is shown (its ``str``) by these personal columns, so a relation to it shows a person's name
    named_by: tuple[str, ...] = ()
    #: the rows go into the person's export as they are (False: the export says what they mean another way)
    exported: bool = True


_DECLARED: dict[type, PersonalData] = {}


class RegistryError(TypeError):
    """A declaration does not match the model's columns."""


def declare(model: type, declaration: PersonalData) -> None:  # pragma: no mutate block (runs at import or app creation)
    """Register a model's personal data, check it against its columns, keep its indexes."""
    table = model.__table__
    derived = []
    if len({declaration.columns[name].category for name in declaration.word_index}) > 1:
        # the search box hashes the words of all of them in one context: one may search all or none
        raise RegistryError(f"{model.__name__}'s word-indexed columns must share one category.")
    for name, personal in declaration.columns.items():
        if name not in table.c:
            raise RegistryError(f"{model.__name__} declares '{name}', which it does not have.")
        column_type = table.c[name].type
        context = f"{table.name}.{name}"
        if personal.encrypted and not (isinstance(column_type, EncryptedString) and column_type.context == context):
            raise RegistryError(f"{model.__name__}.{name} must be EncryptedString('{context}') or EncryptedText.")
        if not personal.encrypted and isinstance(column_type, EncryptedString):
            raise RegistryError(f"{model.__name__}.{name} is encrypted but declared plain.")
        if personal.blind_index:
            index_name = f"{name}_bidx"
            if index_name not in table.c:
                raise RegistryError(f"{model.__name__}.{name} needs a '{index_name}' column.")
            _keep_blind_index(model, name, index_name, personal.blind_index)
            derived.append(index_name)
    if declaration.word_index:
        if "word_index" not in table.c:
            raise RegistryError(f"{model.__name__} needs a 'word_index' column.")
        _keep_word_index(model, declaration.word_index)
        derived.append("word_index")
    subjects.track(model, declaration.subject, tuple(n for n, p in declaration.columns.items() if p.encrypted))
    _DECLARED[model] = PersonalData(
        description=declaration.description,
        columns=declaration.columns,
        erasure=declaration.erasure,
        subject=declaration.subject,
        word_index=declaration.word_index,
        derived=tuple(derived),
        masked_properties=dict(declaration.masked_properties),
        named_by=declaration.named_by,
        exported=declaration.exported,
    )


def register_models(*models: type) -> None:  # pragma: no mutate block (runs at import or app creation)
    """Declare each model from its ``__personal_data__`` attribute."""
    for model in models:
        declare(model, model.__personal_data__)


def declared() -> dict[type, PersonalData]:
    """Every declared model and its declaration."""
    return dict(_DECLARED)


def declaration_of(model: type) -> PersonalData | None:
    return _DECLARED.get(model)


def _keep_blind_index(model, column: str, index_column: str, normalizer: str) -> None:
    # The index context is the normaliser, not the column: an email is found by one
    # hash wherever it is stored (client, contact person, suppression list).
    @event.listens_for(getattr(model, column), "set", propagate=True)
    def update_index(target, value, oldvalue, initiator):
        setattr(target, index_column, blind_index(value, normalizer, normalizer))


def _keep_word_index(model, columns: tuple[str, ...]) -> None:  # pragma: no mutate block (runs at import or app creation)
    table = model.__table__.name

    def make_listener(changed: str):
        def update_words(target, value, oldvalue, initiator):
            values = {f"{table}.{name}": (value if name == changed else getattr(target, name)) for name in columns}
            target.word_index = word_tokens(values, starts=table)

        return update_words

    for name in columns:
        event.listen(getattr(model, name), "set", make_listener(name), propagate=True)
