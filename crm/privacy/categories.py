"""Categories of personal data, as named in the record of processing."""

from flask_babel import lazy_gettext as _l

IDENTITY = _l("Identity (names)")
CONTACT = _l("Contact details")
ADDRESS = _l("Postal address")
IDENTIFIERS = _l("Official identifiers (NIP, PESEL)")
EMPLOYMENT = _l("Employment (position)")
FREE_TEXT = _l("Free text about the person")
ONLINE = _l("Online identifiers (IP address)")
ACCOUNT = _l("Staff account")
