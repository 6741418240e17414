"""The JSON Schema of export.json, written from the personal-data registry (``flask crm export-schema``).

The repository keeps its output as ``crm/gdpr/export.schema.json``, shipped in
each export; a test fails when the registry and the file part ways.
"""

from __future__ import annotations

from flask_babel import force_locale
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Numeric, SmallInteger

from crm.accountability.kinds import SUBJECT_CATEGORY_LABELS
from crm.gdpr.choices import BASIS_LABELS
from crm.gdpr.export import FORMAT, exported_columns
from crm.gdpr.places import places
from crm.history.service import OPERATIONS
from crm.privacy.categories import CATEGORIES


def _type(column) -> dict:
    kind = column.type
    if isinstance(kind, Boolean):
        found = {"type": "boolean"}
    elif isinstance(kind, DateTime):
        found = {"type": "string", "format": "date-time"}
    elif isinstance(kind, Date):
        found = {"type": "string", "format": "date"}
    elif isinstance(kind, (Integer, BigInteger, SmallInteger)):
        found = {"type": "integer"}
    elif isinstance(kind, Numeric):
        found = {"type": "number"}
    else:
        found = {"type": "string"}
    return {**found, "type": [found["type"], "null"]}


def _strict(properties: dict, required=None) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, "additionalProperties": False}


def _place(place) -> dict:
    columns = {name: _type(place.table.c[name]) for name in exported_columns(place)}
    change = {
        "change": {"enum": list(OPERATIONS.values())},
        "at": {"type": ["string", "null"], "format": "date-time", "description": "When the change was made (UTC)"},
        "by": {"type": "string", "description": "The staff member who made it, or 'system'"},
    }
    return {
        **_strict({"description": {"type": "string"}, "rows": {"type": "array", "items": _strict(columns)},
                   "history": {"type": "array", "items": _strict({**change, **columns})}}),
        "description": str(place.label),
    }


def schema() -> dict:
    """The schema of export.json as the registry declares it today (labels in English)."""
    with force_locale("en"):
        # by name: the registry's own order follows the order the models were imported in
        held = {place.table.name: _place(place) for place in sorted(places(), key=lambda place: place.table.name)
                if place.declaration.exported}
    text = {"type": "string"}
    activity = _strict({
        "activity": text, "purpose": text, "lawful_basis": {"enum": list(BASIS_LABELS)},
        "data_categories": {"type": "array", "items": {"enum": [category.key for category in CATEGORIES]}},
        "subject_categories": {"type": "array", "items": {"enum": list(SUBJECT_CATEGORY_LABELS)}},
        "recipients": text, "third_countries": {"type": "string", "description": "Empty: no transfers"},
        "retention": text, "source": {"type": "string", "description": "Empty: from the person"},
    })
    recipient = _strict({
        "role": text, "openings": {"type": "integer", "minimum": 1},
        "first": {"type": "string", "format": "date-time"}, "last": {"type": "string", "format": "date-time"},
    })
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://kartoteka.invalid/schemas/kartoteka-export-1.json",
        "title": f"Everything Kartoteka holds about one person (export.json, format {FORMAT})",
        "description": "Rows are as stored (codes, ISO dates and UTC times); summary.html says the same in words. "
                       "Keyed hashes, data-key ids and internal version counters are left out.",
        **_strict({
            "format": {"const": FORMAT},
            "generated_at": {"type": "string", "format": "date-time", "description": "When the export was made (UTC)"},
            "client_id": {"type": "integer", "minimum": 1, "description": "The number of the person's card"},
            "places": {**_strict(held, required=[]), "description": "Every place holding the person's data, by table, "
                       "with its rows and every earlier version of them"},
            "recipients": {"type": "array", "items": recipient,
                           "description": "Staff roles that opened the person's data (Art. 15(1)(c))"},
            "information": {**_strict({
                "controller": _strict({"name": text, "contact": text, "data_protection_officer": text}),
                "processing": {"type": "array", "items": activity, "description": "Processing activities concerning "
                               "clients, from the record of processing (Art. 30)"},
            }), "description": "What Art. 15(1) GDPR tells the person"},
        }),
    }
