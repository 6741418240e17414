"""The built-in roles and the capabilities each holds until an administrator decides otherwise.

FAB's ``FAB_ROLES`` is not used: it matches with unanchored regular expressions
and stores the patterns themselves as permission rows. ``flask crm init``
creates these roles and gives each cell of the matrix its default here, except
the cells an administrator has already decided (crm.security.matrix).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from crm.security.capabilities import BY_KEY

ADMINISTRATOR = "Administrator"
MANAGER = "Manager"
BACK_OFFICE = "Back office"
DATA_PROTECTION_OFFICER = "Data protection officer"
AUDITOR = "Auditor"
#: The role of anonymous requests: it holds nothing.
PUBLIC = "Public"

#: Role names shown in the user's language (the stored names are keys).
ROLE_LABELS = {
    ADMINISTRATOR: _l("Administrator"),
    MANAGER: _l("Manager"),
    BACK_OFFICE: _l("Back office"),
    DATA_PROTECTION_OFFICER: _l("Data protection officer"),
    AUDITOR: _l("Auditor"),
    PUBLIC: _l("Public (not signed in)"),
}

_SEE_ALL = (
    "clients.view", "contacts.view", "notes.view", "mailing_lists.view", "subscriptions.view",
)
_WORK_ON_CARDS = (
    *_SEE_ALL,
    "clients.add", "clients.edit",
    "contacts.add", "contacts.edit", "contacts.delete",
    "notes.add", "notes.edit", "notes.delete",
    "subscriptions.add", "subscriptions.edit", "subscriptions.delete",
    "personal_data.see", "api.docs", "history.view", "consents.view", "consents.manage",
    "clients.import", "clients.export",
)

BUILTIN_ROLES: dict[str, frozenset[str]] = {
    ADMINISTRATOR: frozenset(BY_KEY),
    MANAGER: frozenset({
        *_WORK_ON_CARDS, "clients.delete", "mailing_lists.manage", "mailing_lists.export", "history.restore",
    }),
    BACK_OFFICE: frozenset(_WORK_ON_CARDS),
    DATA_PROTECTION_OFFICER: frozenset({
        *_SEE_ALL, "personal_data.see", "registry.view", "api.docs", "history.view", "consents.view",
        "consents.manage", "restrictions.manage", "gdpr.requests", "gdpr.export", "gdpr.erase", "gdpr.retention", "gdpr.events",
        "reads.view", "register.view", "register.manage", "breaches.view", "breaches.manage",
    }),
    # reads everything, sees personal data masked
    AUDITOR: frozenset({
        *_SEE_ALL, "registry.view", "logins.view", "api.docs", "history.view", "consents.view", "gdpr.events",
        "reads.view", "register.view", "breaches.view",
    }),
    PUBLIC: frozenset(),
}


def label_of_role(name: str) -> str:
    """A role's name in the user's language (built-in roles are translated)."""
    return str(ROLE_LABELS.get(name, name))
