"""Importing clients: mapping columns to fields, checking every row with the card's own rules, writing.

Rows are checked by the same pure rules as the card's form and API (client
rules, attribute kinds), against the suppression list of erased persons, and
against the NIP, PESEL and email of the cards already held and of earlier rows.
Writing goes a table at a time in batches (crm/bulk.py), every client encrypted and
versioned (with the importing user) in one transaction: all or nothing. A web
import runs as a background job (crm/imports/jobs.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from crm.attributes import service as attributes
from crm.attributes.kinds import parse
from crm.attributes.models import AttributeValue
from crm.bulk import BulkWriter, columns_of
from crm.clients import duplicates
from crm.clients.labels import CLIENT_LABELS
from crm.clients.models import Client
from crm.clients.validation import client_errors, normalized_client_values
from crm.gdpr.suppression import SuppressionList
from crm.timeutil import utcnow

#: built-in fields an import can fill
BUILTIN_TARGETS = (
    "kind", "company_name", "first_name", "last_name", "email", "phone", "street", "postal_code", "city",
    "country", "nip", "pesel", "status", "remarks",
)
IGNORE = ""
ATTRIBUTE_PREFIX = "attr:"
BATCH = 500

ROWS_REFUSED_MESSAGE = _l("%(count)d rows have errors, so nothing was imported. Correct them, or choose to skip bad rows.")
SUPPRESSED_ROW_MESSAGE = _l(
    "A person with this email, phone, NIP or PESEL was erased at their request (tick the new legal basis to import)."
)
NOTHING_MAPPED_MESSAGE = _l("Map at least one column to a field of the card.")
MAPPED_TWICE_MESSAGE = _l("Two columns are mapped to “%(field)s”.")
KIND_VALUES = {"company": "company", "firma": "company", "person": "person", "osoba": "person"}
STATUS_VALUES = {"lead": "lead", "potencjalny": "lead", "active": "active", "aktywny": "active", "former": "former", "były": "former"}


class ImportRefused(ValueError):
    """Nothing was imported; the message says why."""


@dataclass
class RowCheck:
    """One row of the file: its number in the file, what it becomes, and what is wrong."""

    number: int
    values: dict
    attributes: dict
    errors: list[str] = field(default_factory=list)


def targets(session) -> list[tuple[str, str]]:
    """(target, label) of every field a column can fill: the card's visible fields, then active attributes."""
    hidden = attributes.hidden_fields(session)
    found = [(name, str(CLIENT_LABELS[name])) for name in BUILTIN_TARGETS if name not in hidden]
    found += [(f"{ATTRIBUTE_PREFIX}{d.key}", d.label) for d in attributes.active_definitions(session)]
    return found


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return re.sub(r"[^a-z0-9]", "", "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower())


#: a file's headers may be in either language, whatever the language of the session importing it
LABEL_LANGUAGES = ("pl", "en")


def guess_mapping(headers: list[str], session) -> dict[str, str]:
    """A target for each header whose name matches a field's key or label (Polish or English).

    Only a field a column can fill is guessed: a column of a field the company
    does not collect is left out, not a reason to refuse the file.
    """
    fields = [target for target, _label in targets(session)]
    names: dict[str, str] = {}
    for definition in attributes.active_definitions(session):
        for label in (definition.label_pl, definition.label_en):
            names.setdefault(_folded(label), f"{ATTRIBUTE_PREFIX}{definition.key}")
    for language in LABEL_LANGUAGES:
        with force_locale(language):
            for name in BUILTIN_TARGETS:
                names.setdefault(_folded(str(CLIENT_LABELS[name])), name)
    for target in fields:
        names.setdefault(_folded(target.removeprefix(ATTRIBUTE_PREFIX)), target)
    guessed, used = {}, set()
    for header in headers:
        target = names.get(_folded(header), IGNORE)
        if target not in fields or target in used:
            target = IGNORE
        guessed[header] = target
        used.add(target)
    return guessed


def check_mapping(mapping: dict[str, str], session) -> None:
    """Refuse (ImportRefused) a mapping that fills nothing, fills a field twice, or names no such field."""
    known = {target for target, _label in targets(session)}
    chosen = [target for target in mapping.values() if target]
    if not chosen:
        raise ImportRefused(str(NOTHING_MAPPED_MESSAGE))
    for target in chosen:
        if target not in known:
            raise ImportRefused(str(NOTHING_MAPPED_MESSAGE))
        if chosen.count(target) > 1:
            label = dict(targets(session))[target]
            raise ImportRefused(str(MAPPED_TWICE_MESSAGE % {"field": label}))


def _client_values(row: dict, mapping: dict) -> dict:
    values = {target: row.get(header, "") for header, target in mapping.items() if target in BUILTIN_TARGETS}
    kind = (values.get("kind") or "").strip().lower()
    values["kind"] = KIND_VALUES.get(kind, kind) or ("company" if values.get("company_name") else "person")
    status = (values.get("status") or "").strip().lower()
    values["status"] = STATUS_VALUES.get(status, status) or "lead"
    return values


def check_rows(
    session, rows: list[dict], mapping: dict[str, str], *, confirmed_new_basis: bool,
    confirmed_duplicates: bool, progress: Callable[[int], None] = lambda n: None,
) -> list[RowCheck]:
    """Every row checked by the card's rules; the first data row is number 2 (the header is 1).

    A row whose NIP, PESEL or email a card (or an earlier row) holds is an error unless ``confirmed_duplicates``.
    """
    definitions = attributes.active_definitions(session)
    by_key = {d.key: d for d in definitions}
    rules = attributes.specs(session, definitions)
    attribute_columns = {
        header: by_key[target.removeprefix(ATTRIBUTE_PREFIX)]
        for header, target in mapping.items() if target.startswith(ATTRIBUTE_PREFIX)
    }
    mapped = set(attribute_columns.values())
    # the suppression list is short: one read instead of a query per row
    suppressed = SuppressionList(session) if not confirmed_new_basis else None
    checks = []
    for number, row in enumerate(rows, start=2):
        values = _client_values(row, mapping)
        errors = [f"{CLIENT_LABELS[name]}: {message}" for name, message in client_errors(values).items()]
        values = normalized_client_values(values)
        parsed = {}
        for header, definition in attribute_columns.items():
            stored, message = parse(rules[definition.id], row.get(header, ""))
            if message:
                errors.append(f"{definition.label}: {message}")
            elif stored is not None:
                parsed[definition.id] = stored
        for definition in definitions:
            if definition.required and definition not in mapped:
                errors.append(f"{definition.label}: {_l('This value is required.')}")
        if suppressed is not None and suppressed.holds(values):
            errors.append(str(SUPPRESSED_ROW_MESSAGE))
        checks.append(RowCheck(number, values, parsed, [str(error) for error in errors]))
        if len(checks) % BATCH == 0:
            progress(BATCH)
    if not confirmed_duplicates:
        _add_duplicate_errors(session, checks)
    return checks


def _add_duplicate_errors(session, checks: list[RowCheck]) -> None:
    found = duplicates.row_duplicates(session, [check.values for check in checks])
    for check, held in zip(checks, found):
        for field_name, client_id, earlier in held:
            label = CLIENT_LABELS[field_name]
            if client_id is not None:
                message = duplicates.ROW_DUPLICATES_CARD_MESSAGE % {"field": label, "id": client_id}
            else:
                message = duplicates.ROW_DUPLICATES_ROW_MESSAGE % {"field": label, "row": checks[earlier].number}
            check.errors.append(str(message))


def write(session, checks: list[RowCheck], skip_bad: bool, owner_id: int | None = None,
          progress: Callable[[int], None] = lambda n: None) -> tuple[int, int]:
    """Write the good rows; returns (written, skipped). The caller commits: all rows or none.

    The rows' one transaction names ``owner_id`` and no address: a worker or the command line
    writes them, not a browser.

    Unless ``skip_bad``, one bad row refuses the whole file (ImportRefused) and nothing is written.
    """
    bad = [check for check in checks if check.errors]
    if bad and not skip_bad:
        raise ImportRefused(str(ROWS_REFUSED_MESSAGE % {"count": len(bad)}))
    good = [check for check in checks if not check.errors]
    if not good:
        return 0, len(bad)
    definitions = {d.id: d for d in attributes.active_definitions(session)}
    now = utcnow()
    # one recorded transaction, versioned rows written a table at a time (crm/bulk.py)
    writer = BulkWriter(session.connection())
    transaction_id = writer.transaction(owner_id, None, now)
    for start in range(0, len(good), BATCH):
        batch = good[start:start + BATCH]
        values = []
        for client_id, check in zip(writer.new_ids(Client.__table__, len(batch)), batch):
            card = columns_of(Client(**{k: v for k, v in check.values.items() if v is not None}, owner_id=owner_id))
            card.update(id=client_id, created_at=now, updated_at=now, lock_version=1)
            writer.add(Client, card, transaction_id)
            for definition_id, stored in check.attributes.items():
                row = AttributeValue(definition_id=definition_id, client_id=client_id, lock_version=1)
                attributes.store_value(row, definitions[definition_id], stored)
                values.append(columns_of(row))
        for row, row_id in zip(values, writer.new_ids(AttributeValue.__table__, len(values))):
            writer.add(AttributeValue, {**row, "id": row_id}, transaction_id)
        writer.flush()
        progress(len(batch))
    return len(good), len(bad)
