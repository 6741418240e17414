"""Categories of personal data: the record of processing names them, and a role sees each in clear or masked.

A category's ``key`` is stable (it names the permission "see this category in
clear"); its label is what the record of processing and the matrix show.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Category:
    """One category of personal data."""

    key: str
    label: object

    def __str__(self) -> str:
        return str(self.label)


IDENTITY = Category("identity", _l("Identity (names)"))
CONTACT = Category("contact", _l("Contact details"))
ADDRESS = Category("address", _l("Postal address"))
IDENTIFIERS = Category("identifiers", _l("Official identifiers (NIP, PESEL)"))
EMPLOYMENT = Category("employment", _l("Employment (position)"))
FREE_TEXT = Category("free_text", _l("Free text about the person"))
ONLINE = Category("online", _l("Online identifiers (IP address)"))
ACCOUNT = Category("account", _l("Staff account"))

#: every category, in the order the matrix lists them
CATEGORIES = (IDENTITY, CONTACT, ADDRESS, IDENTIFIERS, EMPLOYMENT, FREE_TEXT, ONLINE, ACCOUNT)
BY_KEY = {category.key: category for category in CATEGORIES}
