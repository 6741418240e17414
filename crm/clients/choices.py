"""Closed vocabularies of the client card, with their translated labels.

The keys are stored in the database and checked by constraints; renaming one
needs a migration of stored rows.
"""

from flask_babel import lazy_gettext as _l

CLIENT_KIND_LABELS = {"company": _l("Company"), "person": _l("Person")}
CLIENT_STATUS_LABELS = {
    "lead": _l("Lead"),
    "active": _l("Active"),
    "former": _l("Former"),
}
NOTE_KIND_LABELS = {
    "note": _l("Note"),
    "call": _l("Call"),
    "meeting": _l("Meeting"),
    "email": _l("Email message"),
}

CLIENT_KINDS = tuple(CLIENT_KIND_LABELS)
CLIENT_STATUSES = tuple(CLIENT_STATUS_LABELS)
NOTE_KINDS = tuple(NOTE_KIND_LABELS)


def label_of(labels: dict, key: str | None) -> str:
    """The translated label of a stored key (the key itself when unknown)."""
    if key is None:
        return ""
    return str(labels.get(key, key))


def country_name(code: str | None) -> str:
    """A stored ISO 3166 country code as its name in the user's language ("PL" -> "Polska"); unknown codes as they are."""
    from flask_babel import get_locale

    if not code:
        return ""
    locale = get_locale()
    return locale.territories.get(code.upper(), code) if locale is not None else code
