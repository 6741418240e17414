"""Everything held about a person (Art. 15, 20), from every place the registry names.

``collect`` gathers the rows and their full history as plain values (the form
``export.schema.json`` documents); ``package`` turns them into one download:
JSON, a CSV per place, and the document to read (crm.gdpr.document) in the
person's language.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path

from flask import render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy_continuum import version_class, versioning_manager

from crm.accountability.register import about_clients, controller, keys_of
from crm.accountability.service import recipients_of
from crm.clients.models import Client
from crm.gdpr.choices import ANSWERED_BY_EXPORT
from crm.gdpr.document import document
from crm.gdpr.models import GdprEvent
from crm.gdpr.places import places
from crm.gdpr.service import check_grounds, fulfil
from crm.history.service import OPERATIONS
from crm.privacy.subjects import DATA_KEY_COLUMN
from crm.spreadsheet import csv_cell
from crm.timeutil import shown_time, utcnow, zone_note

FORMAT = "kartoteka-export/1"
#: the JSON Schema of export.json, shipped in each export
SCHEMA_PATH = Path(__file__).with_name("export.schema.json")
NO_SUCH_CLIENT_MESSAGE = _l("There is no such client; it may have been erased already.")
#: languages documents for people outside (the person, the authority) are written in, by the name each is chosen by
DOCUMENT_LANGUAGES = {"pl": _l("Polish"), "en": _l("English")}
BAD_LANGUAGE_MESSAGE = _l("Choose the language of the document: Polish or English.")


class ExportError(ValueError):
    """An export that cannot be made."""

    def __init__(self, message, status: int = 404):
        super().__init__(str(message))
        self.status = status


def plain(value):
    """A value as JSON and CSV hold it: times in UTC as RFC 3339 says (stored times are naive UTC), dates as ISO."""
    if isinstance(value, datetime):
        return value.isoformat() + "Z" if value.tzinfo is None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def exported_columns(place) -> list[str]:
    """The columns of a place that go into the export: the person's values, not the system's."""
    # keyed hashes and the name of the data key are the system's, not data about the person
    hidden = {*place.declaration.derived, DATA_KEY_COLUMN}
    return [column.name for column in place.table.columns if column.name not in hidden]


def _staff_names(session, transaction_ids) -> dict[int, tuple[str, str]]:
    from crm.history.service import staff_name

    transaction_cls = versioning_manager.transaction_cls
    found = {}
    for transaction in session.scalars(select(transaction_cls).where(transaction_cls.id.in_(transaction_ids))):
        who = staff_name(transaction.user) if transaction.user is not None else "system"
        found[transaction.id] = (plain(transaction.issued_at), who)
    return found


def collect(session, client_id: int) -> dict:
    """The person's data from every place, with the history of each row, as plain values."""
    if session.get(Client, client_id) is None:
        raise ExportError(NO_SUCH_CLIENT_MESSAGE)
    result = {"format": FORMAT, "generated_at": plain(utcnow()), "client_id": client_id, "places": {}}
    for place in places():
        if not place.declaration.exported:
            continue
        columns = exported_columns(place)
        subject = getattr(place.model, place.subject_column)
        rows = [
            {name: plain(getattr(row, name)) for name in columns}
            for row in session.scalars(select(place.model).where(subject == client_id))
        ]
        history = []
        if place.version_table is not None:
            version = version_class(place.model)
            versions = list(session.scalars(
                select(version).where(getattr(version, place.subject_column) == client_id).order_by(version.transaction_id)
            ))
            names = _staff_names(session, {v.transaction_id for v in versions})
            for row in versions:
                when, who = names.get(row.transaction_id, (None, "system"))
                history.append({
                    "change": OPERATIONS.get(row.operation_type, str(row.operation_type)),
                    "at": when,
                    "by": who,
                    **{name: plain(getattr(row, name)) for name in columns},
                })
        result["places"][place.table.name] = {"description": place.label, "rows": rows, "history": history}
    result["recipients"] = [
        {"role": recipient.role, "openings": recipient.openings, "first": plain(recipient.first), "last": plain(recipient.last)}
        for recipient in recipients_of(session, client_id)
    ]
    result["information"] = information(session)
    return result


def information(session) -> dict:
    """What Art. 15(1) tells the person, as codes and texts: the controller and the activities concerning clients."""
    held_by = controller()
    return {
        "controller": {"name": held_by.name, "contact": held_by.contact, "data_protection_officer": held_by.officer},
        "processing": [
            {
                "activity": activity.name, "purpose": activity.purpose, "lawful_basis": activity.lawful_basis,
                "data_categories": keys_of(activity.data_categories),
                "subject_categories": keys_of(activity.subject_categories),
                "recipients": activity.recipients or "", "third_countries": activity.third_countries or "",
                "retention": activity.retention, "source": activity.source or "",
            }
            for activity in about_clients(session)
        ],
    }


def summary(data: dict) -> dict[str, int]:
    """How many rows and versions the export holds per place."""
    return {
        table: {"rows": len(held["rows"]), "versions": len(held["history"])}
        for table, held in data["places"].items()
    }


def _csv(rows: list[dict]) -> str:
    """The rows (at least one) as CSV, each cell safe from spreadsheet formulas."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows({name: csv_cell(value) for name, value in row.items()} for row in rows)
    return buffer.getvalue()


def _shown(moment: str) -> str:
    """A time of export.json (RFC 3339, UTC) as the document shows it."""
    return shown_time(datetime.fromisoformat(moment).replace(tzinfo=None))


def package(session, data: dict, language: str) -> bytes:
    """One ZIP: export.json, a CSV of rows and one of history per place, and summary.html, the document to read.

    The document is written in ``language`` (the person's, which may not be the officer's).
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("export.schema.json", SCHEMA_PATH.read_bytes())
        for table, held in data["places"].items():
            if held["rows"]:
                archive.writestr(f"csv/{table}.csv", _csv(held["rows"]))
            if held["history"]:
                archive.writestr(f"csv/{table}_history.csv", _csv(held["history"]))
        with force_locale(language):
            archive.writestr("summary.html", render_template(
                "gdpr/export_summary.html", document=document(session, data["client_id"]), language=language,
                prepared_on=_shown(data["generated_at"]), zone=zone_note(),
                recipients=[
                    {**recipient, "first": _shown(recipient["first"]), "last": _shown(recipient["last"])}
                    for recipient in data["recipients"]
                ],
            ))
    return buffer.getvalue()


def record(
    session, client_id: int, data: dict, actor=None, request_id: int | None = None, reason: str | None = None,
) -> GdprEvent:
    """Record who exported whose data, when, for which request or why (committed); the request is then completed.

    A request of another client, or neither a request nor a reason, is refused
    before anything is recorded.
    """
    try:
        reason = check_grounds(session, client_id, request_id, reason)
    except ValueError as error:
        raise ExportError(error, status=getattr(error, "status", 400)) from None
    fulfil(session, request_id, ANSWERED_BY_EXPORT)
    event = GdprEvent(
        kind="export", user_id=getattr(actor, "id", None), client_number=client_id, request_id=request_id,
        reason=reason, counts=json.dumps(summary(data)),
    )
    session.add(event)
    session.commit()
    return event
