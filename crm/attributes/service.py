"""Rules of attributes: the active definitions, reading and writing a card's values, hidden fields."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from crm.attributes.kinds import CHOICE_KINDS, KEY_PATTERN, Spec, parse, parse_choices
from crm.attributes.models import AttributeDefinition, AttributeValue, FieldSetting
from crm.privacy.crypto import blind_index

#: built-in fields a company may choose not to collect; kind, status and the name identify a card
HIDEABLE_FIELDS = ("email", "phone", "street", "postal_code", "city", "country", "nip", "pesel", "owner", "remarks")

KEY_MESSAGE = _l("A key is 1 to 40 lower-case letters, digits or underscores, starting with a letter.")
KEY_TAKEN_MESSAGE = _l("Another attribute already has this key.")
CHOICES_NEEDED_MESSAGE = _l("List the choices, one a line.")
KIND_LOCKED_MESSAGE = _l("The type cannot change while cards hold values of this attribute.")


class AttributeErrors(ValueError):
    """Values that cannot be stored; ``messages`` maps each attribute key to its message."""

    def __init__(self, messages: dict[str, list[str]]):
        self.messages = messages
        super().__init__(" ".join(f"{key}: {' '.join(texts)}" for key, texts in messages.items()))

    @property
    def api_message(self) -> dict:
        """The REST API's 422 body: messages under ``attributes``, by key."""
        return {"attributes": self.messages}


def active_definitions(session) -> list[AttributeDefinition]:
    """The attributes cards have now, in their order on the card."""
    with session.no_autoflush:
        return list(session.scalars(
            select(AttributeDefinition).where(AttributeDefinition.active.is_(True))
            .order_by(AttributeDefinition.position, AttributeDefinition.id)
        ))


def hidden_fields(session) -> frozenset[str]:
    """Built-in fields the company does not collect."""
    with session.no_autoflush:
        return frozenset(session.scalars(select(FieldSetting.field).where(FieldSetting.hidden.is_(True))))


def set_hidden_fields(session, hidden) -> None:
    """Hide exactly these built-in fields (only hideable ones count)."""
    wanted = set(hidden) & set(HIDEABLE_FIELDS)
    for field in HIDEABLE_FIELDS:
        setting = session.get(FieldSetting, field) or FieldSetting(field=field)
        setting.hidden = field in wanted
        session.add(setting)
    session.commit()


def _index_normaliser(kind: str) -> str:
    return kind if kind in ("email", "phone") else "text"


def secret_index(definition: AttributeDefinition, stored: str | None) -> str | None:
    """The keyed hash a personal value is found by."""
    if stored is None:
        return None
    normaliser = _index_normaliser(definition.kind)
    return blind_index(stored, normaliser, normaliser)


def store_value(row: AttributeValue, definition: AttributeDefinition, stored: str | None) -> None:
    """Put a stored value in the right column: encrypted (with its keyed hash) when personal."""
    if definition.personal:
        row.value, row.secret, row.secret_bidx = None, stored, secret_index(definition, stored)
    else:
        row.value, row.secret, row.secret_bidx = stored, None, None


def specs(session, definitions, client_id: int | None = None) -> dict[int, Spec]:
    """Each attribute's rules; on a card being edited, its choices widened by a value it holds from an older list.

    A choice removed from a definition stays valid on the cards that hold it,
    until someone picks another: editing a card never loses a value by itself.
    Only that card's values are read, so the cost does not grow with the base.
    """
    held: dict[int, str] = {}
    if client_id is not None:
        with session.no_autoflush:
            held = dict(session.execute(
                select(AttributeValue.definition_id, AttributeValue.value).where(AttributeValue.client_id == client_id)
            ).all())
    result = {}
    for definition in definitions:
        spec = definition.spec
        if definition.kind in CHOICE_KINDS and not definition.personal:
            older = [v for v in (held.get(definition.id) or "").split("\n") if v and v not in spec.choices]
            if older:
                spec = Spec(spec.key, spec.kind, spec.required, spec.choices + tuple(dict.fromkeys(older)))
        result[definition.id] = spec
    return result


def stored_values(client) -> dict[int, str | None]:
    """The card's stored attribute values by definition id."""
    return {row.definition_id: row.stored for row in client.attribute_values}


def apply_values(client, raw: dict, definitions, partial: bool = False, rules: dict | None = None) -> None:
    """Validate and store the card's values of these attributes (AttributeErrors lists what is wrong).

    ``raw`` maps attribute keys to values as typed or sent; with ``partial``
    (an API update) attributes not named keep their values. ``rules`` are the
    specs to apply (default: :func:`specs`).
    """
    from crm.extensions import db

    rules = rules if rules is not None else specs(db.session, definitions, client.id)
    errors, parsed = {}, {}
    for definition in definitions:
        if partial and definition.key not in raw:
            continue
        stored, message = parse(rules[definition.id], raw.get(definition.key))
        if message:
            errors[definition.key] = [message]
        parsed[definition.id] = (definition, stored)
    unknown = set(raw) - {definition.key for definition in definitions}
    for key in sorted(unknown):
        errors[key] = [str(_l("There is no such attribute."))]
    if errors:
        raise AttributeErrors(errors)
    rows = {row.definition_id: row for row in client.attribute_values}
    for definition_id, (definition, stored) in parsed.items():
        row = rows.get(definition_id)
        if stored is None:
            if row is not None:
                client.attribute_values.remove(row)
            continue
        if row is None:
            row = AttributeValue(definition=definition)
            client.attribute_values.append(row)
        if row.stored != stored or (definition.personal and row.value is not None):
            store_value(row, definition, stored)


def definition_problems(session, definition: AttributeDefinition) -> list[str]:
    """What is wrong with a definition about to be saved."""
    problems = []
    if not KEY_PATTERN.match(definition.key or ""):
        problems.append(str(KEY_MESSAGE))
    with session.no_autoflush:
        taken = session.scalar(select(AttributeDefinition.id).where(
            AttributeDefinition.key == definition.key, AttributeDefinition.id != (definition.id or 0)
        ))
    if taken is not None:
        problems.append(str(KEY_TAKEN_MESSAGE))
    if definition.kind in CHOICE_KINDS and not parse_choices(definition.choices):
        problems.append(str(CHOICES_NEEDED_MESSAGE))
    return problems


def value_count(session, definition_id: int) -> int:
    with session.no_autoflush:
        return session.scalar(select(func.count()).select_from(AttributeValue).where(
            AttributeValue.definition_id == definition_id
        ))


def prepare_definition(session, definition: AttributeDefinition, kind_before: str | None, personal_before: bool | None):
    """Check a definition before saving; move its values when it becomes (or stops being) personal data."""
    problems = definition_problems(session, definition)
    if kind_before is not None and kind_before != definition.kind and value_count(session, definition.id):
        problems.append(str(KIND_LOCKED_MESSAGE))
    if problems:
        raise ValueError(" ".join(problems))
    definition.choices = "\n".join(parse_choices(definition.choices)) or None
    if personal_before is not None and personal_before != definition.personal:
        for row in session.scalars(select(AttributeValue).where(AttributeValue.definition_id == definition.id)):
            stored = row.value if definition.personal else row.secret
            store_value(row, definition, stored)


def delete_values(session, definition: AttributeDefinition) -> int:
    """Delete every card's value of an attribute (each deletion versioned); returns how many."""
    rows = list(session.scalars(select(AttributeValue).where(AttributeValue.definition_id == definition.id)))
    for row in rows:
        session.delete(row)
    session.flush()
    return len(rows)


def archived_values(client) -> list[tuple[AttributeDefinition, str | None]]:
    """The card's values of archived attributes: kept, shown apart."""
    return [(row.definition, row.stored) for row in client.attribute_values if not row.definition.active]
