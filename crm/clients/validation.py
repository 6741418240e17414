"""Validation rules of the client card: pure functions over plain values.

The same rules serve the web forms (:mod:`crm.forms`) and the REST API, so a
value refused in one is refused in the other with the same message.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Mapping

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from crm.clients.choices import CLIENT_KINDS, CLIENT_STATUSES

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_SEPARATORS = re.compile(r"[\s\-.]")
# The syntax rules, as regular expressions the REST API's OpenAPI document states too
# (crm.clients.api): digits are ASCII digits, in Python as in the JSON Schema's regex dialect.
#: a phone: an optional +, then 7 to 15 digits among spaces, dashes and brackets
PHONE_PATTERN = r"^\+?[\s\-()]*([0-9][\s\-()]*){7,15}$"
#: a Polish postal code
POLISH_POSTAL_CODE_PATTERN = r"^[0-9]{2}-[0-9]{3}$"
#: a two-letter country code
COUNTRY_PATTERN = r"^[A-Za-z]{2}$"
_POLISH_POSTAL_CODE = re.compile(POLISH_POSTAL_CODE_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)


def digits_only(value: str | None) -> str:
    """The value without spaces, dashes and dots (``123-456-32-18`` -> ``1234563218``)."""
    return _SEPARATORS.sub("", value or "")


def normalize_nip(value: str | None) -> str:
    """A NIP as ten digits, without separators or the ``PL`` prefix."""
    compact = digits_only(value).upper()
    return compact[2:] if compact.startswith("PL") else compact


def is_valid_nip(value: str | None) -> bool:
    """True for a ten-digit NIP whose checksum digit matches."""
    nip = normalize_nip(value)
    if not re.fullmatch(r"[0-9]{10}", nip):
        return False
    checksum = sum(int(d) * w for d, w in zip(nip, NIP_WEIGHTS)) % 11
    return checksum != 10 and checksum == int(nip[9])


def pesel_birth_date(value: str | None) -> date | None:
    """The date of birth encoded in a PESEL, or None when it encodes no real date."""
    pesel = digits_only(value)
    if not re.fullmatch(r"[0-9]{11}", pesel):
        return None
    year, month, day = int(pesel[0:2]), int(pesel[2:4]), int(pesel[4:6])
    century = {0: 1900, 1: 2000, 2: 2100, 3: 2200, 4: 1800}.get(month // 20)
    if century is None:
        return None
    try:
        return date(century + year, month % 20, day)
    except ValueError:
        return None


def is_valid_pesel(value: str | None) -> bool:
    """True for an eleven-digit PESEL with a real birth date and a matching checksum."""
    pesel = digits_only(value)
    if pesel_birth_date(pesel) is None:
        return False
    checksum = (10 - sum(int(d) * w for d, w in zip(pesel, PESEL_WEIGHTS)) % 10) % 10
    return checksum == int(pesel[10])


def is_valid_email(value: str) -> bool:
    """True for a syntactically valid address (no DNS look-up)."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def is_valid_phone(value: str) -> bool:
    """Digits with optional ``+``, spaces, dashes and brackets; 7 to 15 digits."""
    return bool(_PHONE.match(value))


def is_valid_postal_code(value: str, country: str | None) -> bool:
    """Polish codes must read ``NN-NNN``; other countries' codes are taken as given."""
    if (country or "").strip().upper() in ("", "PL"):
        return bool(_POLISH_POSTAL_CODE.match(value))
    return True


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def contact_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Field -> message for the email and phone of any record that has them."""
    errors: dict[str, str] = {}
    email = values.get("email")
    if not _blank(email) and not is_valid_email(email.strip()):
        errors["email"] = _l("Enter a valid email address, e.g. jan.kowalski@example.pl.")
    phone = values.get("phone")
    if not _blank(phone) and not is_valid_phone(phone.strip()):
        errors["phone"] = _l(
            "Enter a phone number of 7 to 15 digits, e.g. +48 601 234 567."
        )
    return errors


def client_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Field -> translated message for every rule the client values break."""
    errors = contact_errors(values)
    kind = values.get("kind")
    if kind not in CLIENT_KINDS:
        errors["kind"] = _l("Choose whether the client is a company or a person.")
    if values.get("status") is not None and values.get("status") not in CLIENT_STATUSES:
        errors["status"] = _l("Choose a status: lead, active or former.")
    if kind == "company" and _blank(values.get("company_name")):
        errors["company_name"] = _l("A company needs its name.")
    if kind == "person":
        for field in ("first_name", "last_name"):
            if _blank(values.get(field)):
                errors[field] = _l("A person needs a first and a last name.")
    nip = values.get("nip")
    if not _blank(nip) and not is_valid_nip(nip):
        errors["nip"] = _l("This is not a valid NIP: it needs 10 digits with a correct check digit.")
    pesel = values.get("pesel")
    if not _blank(pesel):
        if kind != "person":
            errors["pesel"] = _l("Only a person has a PESEL.")
        elif not is_valid_pesel(pesel):
            errors["pesel"] = _l(
                "This is not a valid PESEL: it needs 11 digits, a real date of birth and a correct check digit."
            )
    postal_code = values.get("postal_code")
    if not _blank(postal_code) and not is_valid_postal_code(postal_code.strip(), values.get("country")):
        errors["postal_code"] = _l("A Polish postal code reads NN-NNN, e.g. 00-950.")
    country = values.get("country")
    if not _blank(country) and not re.fullmatch(COUNTRY_PATTERN, country.strip()):
        errors["country"] = _l("Enter a two-letter country code, e.g. PL.")
    return errors


#: the longest NIP or PESEL taken as typed, separators and a "PL" prefix included
MAX_TYPED_IDENTIFIER = 20


def with_compact_identifiers(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with NIP and PESEL stripped of separators, as forms and the API take them.

    A value longer than anyone types is left as it is, so that its length is refused.
    """
    result = dict(values)
    for name, compact in (("nip", normalize_nip), ("pesel", digits_only)):
        value = result.get(name)
        if isinstance(value, str) and len(value) <= MAX_TYPED_IDENTIFIER:
            result[name] = compact(value) if value.strip() else None
    return result


def normalized_client_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values as stored: identifiers as digits only, country upper-case, blanks as None."""
    result = {key: (None if _blank(value) else value) for key, value in values.items()}
    for key, value in result.items():
        if isinstance(value, str):
            result[key] = value.strip()
    result = with_compact_identifiers(result)
    if result.get("country"):
        result["country"] = result["country"].upper()
    return result
