"""The client card's request bodies as the REST API's OpenAPI document states them.

FAB derives a schema from the columns (types and lengths only), so a body it
calls valid was refused for a rule it did not state (a company without its
name, a PESEL on a company, a NIP that fails its checksum). These schemas state
the card's rules (crm.clients.validation) in JSON Schema, from the same
patterns the validation uses: a company (``kind: company``) needs its name and
has no PESEL, a person needs both names; NIP and PESEL carry the custom formats
``nip`` and ``pesel`` for their checksums, which JSON Schema cannot express.

What no schema of the body can state: a change (PUT) is checked together with
the stored card (a Polish postal code against a country stored earlier, a PESEL
stored on a person who becomes a company), a restricted card (Art. 18) is not
changed, the email or phone of an erased person needs
``confirm_new_legal_basis``, and another card's NIP, PESEL or email needs
``confirm_duplicate``. Those answer 409 or 422 with a message.
"""

from __future__ import annotations

import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES

from crm.attributes.kinds import MAX_LENGTH
from crm.clients.choices import CLIENT_KINDS, CLIENT_STATUSES
from crm.clients.validation import COUNTRY_PATTERN, MAX_TYPED_IDENTIFIER, PHONE_PATTERN, POLISH_POSTAL_CODE_PATTERN
from crm.guards import NO_NUL

_BLANK = r"^\s*$"


def _inner(pattern: str) -> str:
    return pattern.removeprefix("^").removesuffix("$")


def blank_or(pattern: str) -> str:
    """A pattern also matching a blank value, with spaces around (values are stripped before checking)."""
    return rf"^\s*({_inner(pattern)})?\s*$"


def _text(max_length: int, **extra) -> dict:
    return {"type": "string", "maxLength": max_length, "nullable": True, **extra}


def _filled(max_length: int) -> dict:
    """A text that must say something (not blank)."""
    return {"type": "string", "maxLength": max_length, "pattern": r"\S"}


def _any_case(word: str) -> str:
    return "".join(f"[{char.lower()}{char.upper()}]" if char.isalpha() else re.escape(char) for char in word)


#: An email's domain ends in a top-level name that takes mail: the email check (email-validator) refuses
#: the special-use names (``.test``, ``.invalid``, ``.localhost``...), which the "email" format admits.
DELIVERABLE_DOMAIN = r"\.(?!(?:" + "|".join(map(_any_case, SPECIAL_USE_DOMAIN_NAMES)) + r")$)[^.@\s]+$"
EMAIL = {"type": "string", "format": "email", "maxLength": 254, "pattern": DELIVERABLE_DOMAIN}

NIP = _text(MAX_TYPED_IDENTIFIER, format="nip", pattern=blank_or(r"([Pp][Ll])?[\s.\-]*([0-9][\s.\-]*){10}"),
            description="Polish tax id: 10 digits with a valid check digit; spaces, dots, dashes and a PL prefix are dropped")
PESEL = _text(MAX_TYPED_IDENTIFIER, format="pesel", pattern=blank_or(r"[\s.\-]*([0-9][\s.\-]*){11}"),
              description="Polish national id of a person: 11 digits, a real date of birth and a valid check digit")
NO_PESEL = {"nullable": True, "type": "string", "pattern": _BLANK, "description": "Only a person has a PESEL"}


def client_properties(owner_ids: list[int], attributes: dict) -> dict:
    """The properties of a client body, common to a company and a person."""
    return {
        "kind": {"type": "string", "enum": list(CLIENT_KINDS)},
        "company_name": _text(200),
        "first_name": _text(100),
        "last_name": _text(100),
        "email": {"nullable": True, "anyOf": [{"type": "string", "pattern": _BLANK}, EMAIL]},
        "phone": _text(32, pattern=blank_or(PHONE_PATTERN)),
        "street": _text(200),
        "postal_code": _text(12),
        "city": _text(100),
        "country": {"type": "string", "maxLength": 2, "pattern": blank_or(COUNTRY_PATTERN)},
        "nip": NIP,
        "pesel": PESEL,
        "status": {"type": "string", "enum": list(CLIENT_STATUSES)},
        "owner": {"type": "integer", "nullable": True, "enum": [*owner_ids, None],
                  "description": "The id of an active staff account"},
        "remarks": _text(10_000),
        "confirm_new_legal_basis": {"type": "boolean", "description": "A new legal basis exists for a person erased earlier"},
        "confirm_duplicate": {"type": "boolean",
                              "description": "The card is another client than the cards with the same NIP, PESEL or email"},
        "attributes": attributes,
    }


#: a Polish postal code is NN-NNN; with another country any code is taken
POSTAL_CODE_BY_COUNTRY = [
    {"properties": {"country": {"pattern": blank_or(r"[Pp][Ll]")},
                    "postal_code": {"nullable": True, "pattern": blank_or(POLISH_POSTAL_CODE_PATTERN)}}},
    {"required": ["country"], "properties": {"country": {"not": {"pattern": blank_or(r"[Pp][Ll]")}}}},
]


#: the fields that say who the client is: a change sends them together with ``kind``
IDENTITY_FIELDS = ("kind", "company_name", "first_name", "last_name", "pesel")


def client_body(owner_ids: list[int], attributes: dict, update: bool) -> dict:
    """The body of a new card (POST), or of a change (PUT: with the lock_version read).

    A change is checked against the stored card, so its body states whole what
    the stored values could contradict: who the client is (``kind`` with the
    names, and a company's empty ``pesel``) and the country with its postal code.
    """
    company = {
        "title": "Company",
        "required": ["kind", "company_name", *(["pesel"] if update else [])],
        "properties": {"kind": {"enum": ["company"]}, "company_name": _filled(200), "pesel": NO_PESEL},
    }
    person = {
        "title": "Person",
        "required": ["kind", "first_name", "last_name"],
        "properties": {"kind": {"enum": ["person"]}, "first_name": _filled(100), "last_name": _filled(100)},
    }
    properties = client_properties(owner_ids, attributes)
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "allOf": [{"anyOf": POSTAL_CODE_BY_COUNTRY}],
    }
    if not update:
        schema["allOf"].append({"oneOf": [company, person]})
        return schema
    properties["lock_version"] = {"type": "integer", "description": "The lock_version read with the card"}
    schema["required"] = ["lock_version"]
    no_identity = {"not": {"anyOf": [{"required": [name]} for name in IDENTITY_FIELDS]}}
    schema["allOf"] += [
        {"oneOf": [no_identity, company, person]},
        {"anyOf": [{"not": {"required": ["country"]}}, {"required": ["country", "postal_code"]}]},
    ]
    schema["description"] = (
        "A change of the card. Who the client is (kind, names, PESEL) is sent whole or not at all, and a country "
        "with its postal code, so that the changed card follows the rules whatever was stored; lock_version is the "
        "one read by GET (another save meanwhile answers 409)."
    )
    return schema


def change_problems(body: dict) -> dict[str, str]:
    """What a change's body lacks of what :func:`client_body` states must come together (field -> message key)."""
    problems = {}
    if any(name in body for name in IDENTITY_FIELDS):
        kind = body.get("kind") if isinstance(body.get("kind"), str) else None
        needed = {"company": ("company_name", "pesel"), "person": ("first_name", "last_name")}.get(kind, ("kind",))
        for name in needed:
            if name not in body:
                problems[name] = "identity"
    if "country" in body and "postal_code" not in body:
        problems["postal_code"] = "postal_code"
    return problems


_ATTRIBUTE_TYPES = {
    "text": {"type": "string", "maxLength": MAX_LENGTH["text"], "pattern": NO_NUL},
    "long_text": {"type": "string", "maxLength": MAX_LENGTH["long_text"], "pattern": NO_NUL},
    "integer": {"type": "integer", "minimum": -(10**18) + 1, "maximum": 10**18 - 1},
    "decimal": {"type": "string", "format": "decimal", "maxLength": 40, "pattern": r"^\s*[+-]?[0-9][0-9 ]*([.,][0-9 ]*[0-9])?\s*$"},
    "date": {"type": "string", "format": "date"},
    "boolean": {"type": "boolean"},
    "multi_choice": {"type": "array"},
    "email": {**EMAIL, "maxLength": MAX_LENGTH["email"]},
    "phone": {"type": "string", "maxLength": MAX_LENGTH["phone"], "pattern": PHONE_PATTERN},
    "url": {"type": "string", "format": "uri", "maxLength": MAX_LENGTH["url"], "pattern": r"^https?://[^\s/]+[^\s]*$"},
}


def attribute_property(definition) -> dict:
    """One admin-defined attribute's value as the API takes and gives it."""
    prop = dict(_ATTRIBUTE_TYPES.get(definition.kind, {"type": "string"}))
    prop["description"] = f"{definition.label_en} / {definition.label_pl}"
    choices = list(definition.spec.choices)
    if definition.kind == "choice":
        prop["enum"] = choices
    elif definition.kind == "multi_choice":
        prop["items"] = {"type": "string", "enum": choices}
    prop["nullable"] = not definition.required
    return prop


def attributes_object(definitions, update: bool) -> dict:
    """The ``attributes`` object: every active attribute by key; required ones required on a new card."""
    schema = {
        "type": "object",
        "description": "Admin-defined attributes of the card, by key.",
        "additionalProperties": False,
        "properties": {definition.key: attribute_property(definition) for definition in definitions},
    }
    required = [definition.key for definition in definitions if definition.required]
    if required and not update:
        schema["required"] = required
    return schema
