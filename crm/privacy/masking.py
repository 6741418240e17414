"""Personal values in clear or masked, per category, for the current user.

A role sees a category of personal data in clear when it holds that
category's permission, or the permission for every category; otherwise its
values are masked. The masks are pure functions; which mask a column gets, and
its category, come from the registry (its declaration's ``mask``, else its
blind-index kind, else by category). Screens wrap their column formatters with
:func:`masking_formatter`; the REST API masks its JSON with :func:`mask_record`;
filters ask :func:`can_search`. One question, asked everywhere: may this user
see this category?
"""

from __future__ import annotations

import re
from functools import lru_cache

from flask import g, has_request_context
from sqlalchemy import inspect as sqlalchemy_inspect

from crm.privacy.categories import CATEGORIES, FREE_TEXT, IDENTITY, Category
from crm.privacy.registry import Personal, declaration_of

STARS = "***"


def mask_email(value: str) -> str:
    """j***@w***.pl: first letters of the name and the domain, the top-level domain."""
    local, at, domain = value.partition("@")
    if not at:
        return mask_name(value)
    name, dot, top_level = domain.rpartition(".")
    if not dot:
        return f"{local[:1]}{STARS}@{domain[:1]}{STARS}"
    return f"{local[:1]}{STARS}@{name[:1]}{STARS}.{top_level}"


def mask_phone(value: str) -> str:
    """+48 *** *** 123: the country code and the last three digits."""
    compact = re.sub(r"[^\d+]", "", value)
    country = re.match(r"\+(48|\d{1,3}?)(?=\d{9}$)", compact) or re.match(r"\+\d{1,3}", compact)
    prefix = f"{country.group(0)} " if country else ""
    return f"{prefix}{STARS} {STARS} {compact[-3:]}"


def mask_identifier(value: str) -> str:
    """Stars but the last two characters (a PESEL's birth date stays hidden)."""
    return "*" * max(len(value) - 2, 3) + value[-2:]


def mask_name(value: str) -> str:
    """J*** K***: the first letter of each word."""
    return " ".join(f"{word[:1]}{STARS}" for word in value.split()) or STARS


def mask_hidden(value: str) -> str:
    """Nothing of the value (free text can say anything)."""
    return STARS


MASKS = {
    "email": mask_email,
    "phone": mask_phone,
    "identifier": mask_identifier,
    "name": mask_name,
    "hidden": mask_hidden,
}


def mask(kind: str, value):
    """The masked form of a value; empty values stay empty."""
    if value is None or value == "":
        return value
    return MASKS[kind](str(value))


def mask_kind(personal: Personal) -> str:
    """Which mask a declared column gets."""
    if personal.mask:
        return personal.mask
    if personal.blind_index in MASKS:
        return personal.blind_index
    return "hidden" if personal.category is FREE_TEXT else "name"


@lru_cache(maxsize=None)
def column_personal(model: type, column: str) -> Personal | None:
    """The declaration of a model's column, property or relation shown on a screen; None if not personal.

    A relation to a record shown by a person's name (the client, a contact
    person: ``named_by``) is a name of the identity category. Declarations
    are fixed at import, so the answer is kept: lists ask it for every cell.
    """
    declaration = declaration_of(model)
    if declaration is not None:
        if column in declaration.columns:
            return declaration.columns[column]
        if column in declaration.masked_properties:
            return declaration.masked_properties[column]
    relationship = sqlalchemy_inspect(model).relationships.get(column)
    if relationship is not None:
        target = declaration_of(relationship.mapper.class_)
        if target is not None and target.named_by:
            return Personal(IDENTITY, mask="name")
    return None


def column_category(model: type, column: str) -> Category | None:
    """The category of a model's column, property or relation; None if not personal."""
    personal = column_personal(model, column)
    return personal.category if personal is not None else None


def visible_categories() -> frozenset[str]:
    """Keys of the categories the current user sees in clear (worked out once a request).

    Outside a request (the command line, jobs) everything is in clear: the
    operator of the server holds the keys anyway.
    """
    if not has_request_context():
        return frozenset(category.key for category in CATEGORIES)
    if "visible_categories" not in g:
        from crm.extensions import appbuilder
        from crm.security.capabilities import SEE_PERSONAL_DATA, category_pair

        has_access = appbuilder.sm.has_access
        every = has_access(*SEE_PERSONAL_DATA)
        g.visible_categories = frozenset(
            category.key for category in CATEGORIES if every or has_access(*category_pair(category))
        )
    return g.visible_categories


def can_see(category: Category | None) -> bool:
    """Whether the current user sees values of this category in clear (a value of no category: yes)."""
    return category is None or category.key in visible_categories()


def sees_personal_data() -> bool:
    """Whether the current user sees every category in clear (an export of a person, a list export)."""
    return len(visible_categories()) == len(CATEGORIES)


def hidden_mask(model: type, column: str) -> str | None:
    """The mask the current user gets for this column, or None when they see it in clear (or it is not personal)."""
    personal = column_personal(model, column)
    if personal is None or can_see(personal.category):
        return None
    return mask_kind(personal)


def can_search(model: type, column: str) -> bool:
    """Whether the current user may filter by this column: only by what they may see.

    A filter on a masked value answers "is it this one?": with a dictionary of
    names, that recovers the value.
    """
    return can_see(column_category(model, column))


def _masked_value(kind: str, value):
    # a related card (a contact's client) is masked as its name, the text it shows as
    return mask(kind, None if value is None else str(value))


def masking_formatter(model: type, column: str, formatter):
    """``formatter``, masking the value first for users who may not see it; as it is for a column not personal."""
    personal = column_personal(model, column)
    if personal is None:
        return formatter
    kind = mask_kind(personal)

    def format_value(value):
        if not can_see(personal.category):
            value = _masked_value(kind, value)
        return formatter(value)

    return format_value


def mask_record(model: type, record: dict) -> dict:
    """A JSON record of ``model`` with the personal values the current user may not see masked."""
    masked = dict(record)
    for column, value in record.items():
        kind = hidden_mask(model, column)
        if kind is not None:
            masked[column] = _masked_value(kind, value)
    return masked


def mask_free_text(value):
    """A personal attribute's value as the current user may see it (attributes are free text about the person)."""
    return value if can_see(FREE_TEXT) else mask("hidden", value)
