"""Accountability screens: the read-access log (who opened a person's data), the record of processing activities."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Response, request
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired

from crm.accountability import reads, register
from crm.accountability.kinds import READ_KIND_LABELS, SUBJECT_CATEGORY_LABELS, place_label
from crm.accountability.models import ProcessingActivity, ReadAccess
from crm.accountability.service import PAGE_SIZE, ReadQuery, cards_of, find_reads
from crm.arguments import choice_arg, date_arg, int_arg
from crm.clients.choices import label_of
from crm.clients.models import Client
from crm.clients.service import card_name
from crm.extensions import appbuilder, db
from crm.forms import KeysField, text_field
from crm.gdpr.choices import BASIS_LABELS
from crm.gdpr.export import DOCUMENT_LANGUAGES
from crm.history.service import staff_name
from crm.modelviews import VersionedModelView, yes_no
from crm.privacy.keystore import key_store
from crm.privacy.masking import hidden_mask, mask
from crm.security.roles import label_of_role
from crm.timeutil import office_day_start, shown_time, utcnow, zone_note

#: cards named per record; the rest are counted
CARDS_NAMED = 10


class ReadLogView(BaseView):
    """Who opened whose data: by card, by staff account, by time and kind."""

    route_base = "/reads"
    default_view = "index"
    place_title = _l("Read-access log")

    @expose("/")
    @has_access
    @permission_name("list")
    def index(self):
        since, until = date_arg("since"), date_arg("until")
        query = ReadQuery(
            client_id=int_arg("card", minimum=1),
            user_id=int_arg("user"),
            since=office_day_start(since) if since else None,
            until=office_day_start(until + timedelta(days=1)) if until else None,
            kind=choice_arg("kind", READ_KIND_LABELS),
        )
        page = int_arg("page", 0)
        total, records = find_reads(db.session, query, page)
        shown = cards_of(db.session, [record.id for record in records])
        named = {client_id for cards in shown.values() for client_id in cards[:CARDS_NAMED]}
        if query.client_id is not None:
            named.add(query.client_id)
        # the keys of up to 500 cards in one round trip to the key store, not one a card
        key_store().prefetch(db.session.scalars(db.select(Client.data_key_id).where(Client.id.in_(named))))
        names = {client.id: card_name(client) for client in db.session.scalars(db.select(Client).where(Client.id.in_(named)))}
        # the log names the people whose cards were opened: reading it is an opening too
        reads.note("list", names, reads.masks_for_reader(Client))
        ip_mask = hidden_mask(ReadAccess, "ip_address")
        users = appbuilder.sm.user_model
        staff = db.session.scalars(db.select(users).order_by(users.username))
        return self.render_template(
            "accountability/reads.html",
            title=_l("Read-access log"),
            query=query,
            since=since,
            until=until,
            card_name=names.get(query.client_id) if query.client_id else None,
            rows=[
                {
                    "at": record.occurred_at,
                    "who": staff_name(record.user) if record.user is not None else "",
                    "roles": ", ".join(label_of_role(role) for role in json.loads(record.roles or "[]")),
                    "kind": READ_KIND_LABELS[record.kind],
                    "place": place_label(record.place),
                    "cards": [(client_id, names.get(client_id)) for client_id in shown[record.id][:CARDS_NAMED]],
                    "more": max(0, len(shown[record.id]) - CARDS_NAMED),
                    # an erasure takes its person's card out of the records, not their number from the count
                    "erased": record.card_count - len(shown[record.id]),
                    "masked": yes_no(record.masked),
                    "address": mask(ip_mask, record.ip_address) if ip_mask and record.ip_address else record.ip_address or "",
                }
                for record in records
            ],
            total=total,
            page=page,
            more=(page + 1) * PAGE_SIZE < total,
            staff=[(user.id, staff_name(user)) for user in staff],
            kinds=READ_KIND_LABELS,
            args={key: value for key, value in request.args.items() if key != "page"},
        )


DOCUMENT_FORMATS = ("html", "csv")


class ProcessingActivityModelView(VersionedModelView):
    """The record of processing activities (Art. 30(1)): kept by the administrator, exported for the regulator."""

    datamodel = SQLAInterface(ProcessingActivity)
    list_title = _l("Record of processing activities")
    show_title = _l("Processing activity")
    add_title = _l("Add a processing activity")
    edit_title = _l("Edit a processing activity")
    list_template = "accountability/register_list.html"
    label_columns = {**register.COLUMN_LABELS, "updated_at": _l("Last changed")}
    list_columns = ["name", "lawful_basis", "subject_categories", "data_categories", "retention"]
    show_columns = [*register.COLUMN_LABELS, "updated_at"]
    add_columns = list(register.COLUMN_LABELS)
    edit_columns = add_columns
    search_columns = ["name"]
    order_columns = ["name", "lawful_basis"]
    base_order = ("name", "asc")
    formatters_columns = {
        "lawful_basis": lambda key: label_of(BASIS_LABELS, key),
        "subject_categories": lambda keys: register.labels_of(keys, SUBJECT_CATEGORY_LABELS),
        "data_categories": lambda keys: register.labels_of(keys, register.category_labels()),
        "third_countries": lambda text: text or str(register.NO_TRANSFERS),
    }
    add_form_extra_fields = {
        "purpose": text_field(_l("Purpose of processing")),
        "lawful_basis": SelectField(
            _l("Lawful basis"), choices=list(BASIS_LABELS.items()), validators=[DataRequired()], widget=Select2Widget(),
        ),
        "subject_categories": KeysField(
            _l("Categories of data subjects"), choices=list(SUBJECT_CATEGORY_LABELS.items()),
            validators=[DataRequired()],
        ),
        "data_categories": KeysField(
            _l("Categories of personal data"), choices=list(register.category_labels().items()),
            validators=[DataRequired()],
        ),
        "recipients": text_field(_l("Recipients (including processors)"), required=False),
        "third_countries": text_field(_l("Transfers to third countries"), required=False),
        "retention": text_field(_l("Retention period")),
        "security_measures": text_field(
            _l("Technical and organisational security measures"), default=lambda: str(register.BUILT_IN_MEASURES),
        ),
        "source": text_field(_l("Source of the data"), required=False),
    }
    edit_form_extra_fields = add_form_extra_fields
    description_columns = {
        "third_countries": _l("Leave empty when the data does not leave the European Economic Area."),
        "source": _l("Where the data comes from when not from the person (Art. 14(2)(f)); empty: from the person."),
    }

    @expose("/document")
    @has_access
    @permission_name("document")
    def document(self):
        """The whole record as a document for the supervisory authority: HTML or CSV, Polish or English."""
        language = choice_arg("language", DOCUMENT_LANGUAGES) or "pl"
        fmt = choice_arg("format", DOCUMENT_FORMATS) or "html"
        with force_locale(language):
            rows = [register.described(activity) for activity in register.activities(db.session)]
            if fmt == "csv":
                body, mimetype = register.register_csv(rows), "text/csv; charset=utf-8"
            else:
                body = self.render_template(
                    "accountability/register_document.html", rows=rows, columns=register.COLUMN_LABELS,
                    controller=register.controller(), language=language, prepared_on=shown_time(utcnow()), zone=zone_note(),
                )
                mimetype = "text/html; charset=utf-8"
        name = f"rejestr-czynnosci-{language}.{fmt}" if language == "pl" else f"record-of-processing-{language}.{fmt}"
        return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}"})
