"""The "what personal data do we hold" page, read straight from the registry."""

from __future__ import annotations

from dataclasses import dataclass

from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_babel import lazy_gettext as _l

from crm.privacy.registry import Erasure, declared

ERASURE_LABELS = {
    Erasure.DELETE: _l("the row is deleted, with its history"),
    Erasure.ANONYMISE: _l("the columns are emptied, the row stays"),
}
SEARCH_LABELS = {
    "email": _l("exact email"),
    "phone": _l("exact phone number"),
    "identifier": _l("exact identifier"),
    "text": _l("exact value"),
}


@dataclass(frozen=True)
class HeldColumn:
    """One row of the record: a personal column and how it is handled."""

    place: str
    #: the field as screens name it
    field: str
    table: str
    column: str
    category: str
    encrypted: bool
    found_by: str
    erasure: str
    subject: str


#: fields no screen shows (keyed hashes, FAB's registration table, a change's address), named here
UNSHOWN_FIELDS = {
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "username": _l("User name"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "text": _l("Text"),
    "secret": _l("Value of a personal attribute"),
    "secret_bidx": _l("Keyed hash of a personal attribute's value (exact search)"),
    "digest": _l("Keyed hash of an erased person's email, phone, NIP or PESEL"),
    "remote_addr": _l("IP address the change came from"),
    "ip_address": _l("IP address"),
}


def field_labels() -> dict[type, dict[str, str]]:
    """Each model's fields as its screens label them (the labels of the views showing it)."""
    from crm.extensions import appbuilder

    labels: dict[type, dict[str, str]] = {}
    for view in appbuilder.baseviews:
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if model is not None:
            shown = labels.setdefault(model, {})
            for name, label in (view.label_columns or {}).items():
                shown.setdefault(name, str(label))
    return labels


def held_columns() -> list[HeldColumn]:
    """Every declared personal column, grouped by place, as plain values."""
    labels = field_labels()
    rows = []
    for model, declaration in sorted(declared().items(), key=lambda item: item[0].__table__.name):
        if not declaration.columns:
            # rows with no personal value of their own that still tell something about the client
            rows.append(
                HeldColumn(
                    place=str(declaration.description),
                    field=str(_l("(the whole row)")),
                    table=model.__table__.name,
                    column="*",
                    category=str(_l("The link to the client itself")),
                    encrypted=False,
                    found_by="",
                    erasure=str(ERASURE_LABELS[declaration.erasure]),
                    subject=str(_l("the client")) if declaration.subject else str(_l("a staff member")),
                )
            )
        for name, personal in declaration.columns.items():
            if personal.blind_index:
                found_by = str(SEARCH_LABELS[personal.blind_index])
            elif name in declaration.word_index:
                found_by = str(_l("one word"))
            else:
                found_by = ""
            rows.append(
                HeldColumn(
                    place=str(declaration.description),
                    field=labels.get(model, {}).get(name) or str(UNSHOWN_FIELDS[name]),
                    table=model.__table__.name,
                    column=name,
                    category=str(personal.category),
                    encrypted=personal.encrypted,
                    found_by=found_by,
                    erasure=str(ERASURE_LABELS[declaration.erasure]),
                    subject=str(_l("the client")) if declaration.subject else str(_l("a staff member")),
                )
            )
    return rows


class PersonalDataView(BaseView):
    """Administrators, the DPO and auditors see where personal data lives."""

    route_base = "/personal-data"
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        return self.render_template(
            "privacy/personal_data.html", title=_l("Personal data we hold"), rows=held_columns()
        )
