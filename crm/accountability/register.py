"""The record of processing activities (Art. 30(1)) as a document, and what of it each person is told (Art. 15(1)).

The administrator keeps the activities on a screen; the categories of data they
name are the personal-data registry's (crm.privacy.categories), so the record
and the registry cannot drift apart.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.accountability.kinds import ABOUT_CLIENTS, SUBJECT_CATEGORY_LABELS
from crm.accountability.models import ProcessingActivity
from crm.gdpr.choices import BASIS_LABELS
from crm.privacy import categories
from crm.spreadsheet import csv_cell

#: the measures Kartoteka itself takes, offered as the start of an activity's description (Art. 32)
BUILT_IN_MEASURES = _l(
    "Personal data encrypted at rest (AES-256-GCM, a key per person, destroyed on erasure); traffic over TLS; "
    "access by role, with personal data masked for roles that may not see it; strong passwords changed "
    "periodically, lockout after repeated failed logins, optional two-factor login; a log of logins and of every "
    "opening of a person's data; a tamper-evident record of changes, verified on demand."
)
NO_TRANSFERS = _l("No transfers to third countries or international organisations.")

#: the document's columns, in the order of Art. 30(1)
COLUMN_LABELS = {
    "name": _l("Processing activity"),
    "purpose": _l("Purpose of processing"),
    "lawful_basis": _l("Lawful basis"),
    "subject_categories": _l("Categories of data subjects"),
    "data_categories": _l("Categories of personal data"),
    "recipients": _l("Recipients (including processors)"),
    "third_countries": _l("Transfers to third countries"),
    "retention": _l("Retention period"),
    "security_measures": _l("Technical and organisational security measures"),
    "source": _l("Source of the data"),
}


def keys_of(value: str | None) -> list[str]:
    """The keys of a ``key,key`` column."""
    return [key for key in (value or "").split(",") if key]


def labels_of(value: str | None, labels) -> str:
    """A ``key,key`` column in words, in the order of its vocabulary; an unknown key as it is."""
    keys = keys_of(value)
    known = [str(label) for key, label in labels.items() if key in keys]
    return ", ".join(known + [key for key in keys if key not in labels])


def category_labels() -> dict[str, object]:
    """The registry's categories of personal data by key."""
    return {category.key: category.label for category in categories.CATEGORIES}


@dataclass(frozen=True)
class Controller:
    """Who keeps the record (Art. 30(1)(a)): from the settings, as the deployment names them; empty when not set."""

    name: str
    contact: str
    officer: str


def controller() -> Controller:
    """The controller and its data protection officer, from CRM_CONTROLLER_NAME, _CONTACT and CRM_DPO_CONTACT."""
    config = current_app.config
    return Controller(
        name=config.get("CRM_CONTROLLER_NAME") or "",
        contact=config.get("CRM_CONTROLLER_CONTACT") or "",
        officer=config.get("CRM_DPO_CONTACT") or "",
    )


def described(activity: ProcessingActivity) -> dict[str, str]:
    """One activity as the document shows it, every value in words of the current language."""
    return {
        "name": activity.name,
        "purpose": activity.purpose,
        "lawful_basis": str(BASIS_LABELS.get(activity.lawful_basis, activity.lawful_basis)),
        "subject_categories": labels_of(activity.subject_categories, SUBJECT_CATEGORY_LABELS),
        "data_categories": labels_of(activity.data_categories, category_labels()),
        "recipients": activity.recipients or "",
        "third_countries": activity.third_countries or str(NO_TRANSFERS),
        "retention": activity.retention,
        "security_measures": activity.security_measures,
        "source": activity.source or "",
    }


def activities(session) -> list[ProcessingActivity]:
    """Every activity of the record, by name."""
    return list(session.scalars(select(ProcessingActivity).order_by(ProcessingActivity.name)))


def about_clients(session) -> list[ProcessingActivity]:
    """The activities concerning clients and their people: what each person is told of (Art. 15(1))."""
    return [
        activity for activity in activities(session)
        if set(keys_of(activity.subject_categories)) & set(ABOUT_CLIENTS)
    ]


def register_csv(rows: list[dict[str, str]]) -> bytes:
    """The record as CSV (semicolons, UTF-8 with a BOM, as Polish spreadsheets open it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([str(label) for label in COLUMN_LABELS.values()])
    writer.writerows([csv_cell(row[column]) for column in COLUMN_LABELS] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
