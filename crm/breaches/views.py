"""The breach register's screens: breaches, their affected persons, the report for the authority, the letters."""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, request, url_for
from flask_appbuilder import expose, has_access, permission_name
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm.accountability import reads, register
from crm.accountability.kinds import SUBJECT_CATEGORY_LABELS
from crm.arguments import choice_arg
from crm.breaches import letters, service
from crm.breaches.models import Breach
from crm.clients.models import Client
from crm.clients.service import card_name
from crm.errors import refusal
from crm.extensions import appbuilder, db
from crm.forms import KeysField, OfficeDateTimeField, text_field
from crm.gdpr.export import DOCUMENT_LANGUAGES
from crm.modelviews import VersionedModelView
from crm.privacy.keystore import key_store
from crm.privacy.masking import sees_personal_data
from crm.security.roles import label_of_role
from crm.timeutil import from_office_time, shown_time, utcnow, zone_note

#: affected persons named on the breach's page; the rest are counted
PERSONS_SHOWN = 200
NEEDS_CLEAR_DATA = _l("Affected persons are named in clear: your role may not see personal data.")
UNKNOWN_ACTOR_MESSAGE = _l("Choose the staff account, the role and the category from the lists.")

LABELS = {
    "title": _l("Breach"),
    "occurred_at": _l("Happened at"),
    "discovered_at": _l("Discovered at"),
    "description": _l("What happened"),
    "data_categories": _l("Categories of personal data"),
    "subject_categories": _l("Categories of data subjects"),
    "consequences": _l("Likely consequences"),
    "measures": _l("Measures taken or proposed"),
    "high_risk": _l("High risk to the persons (they must be told, Art. 34)"),
    "reported_at": _l("Reported to the authority at"),
    "authority_reference": _l("Authority's case number"),
    "delay_reason": _l("Reason for a report after 72 hours"),
    "affected_count": _l("Affected persons"),
    "notification": _l("Report to the authority (72 hours)"),
    "created_by": _l("Recorded by"),
    "created_at": _l("Recorded at"),
}


class BreachModelView(VersionedModelView):
    """Personal data breaches (Art. 33(5)): recorded, reported within 72 hours, their persons found and told."""

    datamodel = SQLAInterface(Breach)
    # never deleted: the register is the proof (Art. 33(5))
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_affected", "can_notify", "can_report"]
    list_title = _l("Data breaches")
    show_title = _l("Data breach")
    add_title = _l("Record a data breach")
    edit_title = _l("Edit a data breach")
    show_template = "breaches/show.html"
    label_columns = LABELS
    list_columns = ["title", "discovered_at", "notification", "affected_count", "reported_at"]
    show_columns = [
        "title", "occurred_at", "discovered_at", "notification", "description", "data_categories",
        "subject_categories", "consequences", "measures", "high_risk", "reported_at", "authority_reference",
        "delay_reason", "affected_count", "created_by", "created_at",
    ]
    add_columns = [
        "title", "occurred_at", "discovered_at", "description", "data_categories", "subject_categories",
        "consequences", "measures", "high_risk", "reported_at", "authority_reference", "delay_reason",
    ]
    edit_columns = add_columns
    search_columns = ["title", "discovered_at", "reported_at"]
    order_columns = ["title", "discovered_at", "reported_at", "affected_count"]
    base_order = ("discovered_at", "desc")
    formatters_columns = {
        "notification": service.notification_label,
        "data_categories": lambda keys: register.labels_of(keys, register.category_labels()),
        "subject_categories": lambda keys: register.labels_of(keys, SUBJECT_CATEGORY_LABELS),
    }
    add_form_extra_fields = {
        "occurred_at": OfficeDateTimeField(_l("Happened at"), validators=[Optional()]),
        "discovered_at": OfficeDateTimeField(_l("Discovered at"), validators=[DataRequired()]),
        "description": text_field(_l("What happened")),
        "data_categories": KeysField(
            _l("Categories of personal data"), choices=list(register.category_labels().items()),
            validators=[DataRequired()],
        ),
        "subject_categories": KeysField(
            _l("Categories of data subjects"), choices=list(SUBJECT_CATEGORY_LABELS.items()), validators=[DataRequired()],
        ),
        "consequences": text_field(_l("Likely consequences")),
        "measures": text_field(_l("Measures taken or proposed")),
        "high_risk": BooleanField(_l("High risk to the persons (they must be told, Art. 34)")),
        "reported_at": OfficeDateTimeField(_l("Reported to the authority at"), validators=[Optional()]),
        "authority_reference": StringField(_l("Authority's case number"), validators=[Optional(), Length(max=100)]),
        "delay_reason": text_field(_l("Reason for a report after 72 hours"), required=False),
    }
    edit_form_extra_fields = add_form_extra_fields
    description_columns = {
        "title": _l("A short name of the breach, without personal data."),
        "discovered_at": _l("The office's time; the 72 hours to report it run from here."),
        "description": _l("The nature of the breach; describe it without personal data."),
    }

    def pre_add(self, item):
        service.check(item)
        item.created_by = g.user

    def pre_update(self, item):
        service.check(item)

    def show_extra(self, pk, item) -> dict:
        breach = item
        sm = self.appbuilder.sm
        may_manage = sm.has_access("can_affected", self.class_permission_name)
        persons = []
        if breach.affected_count and sees_personal_data():
            listed = service.affected(db.session, breach.id, limit=PERSONS_SHOWN)
            clients = {client.id: client for client in _clients([person.client_id for person in listed])}
            persons = [(person, card_name(clients[person.client_id])) for person in listed]
            reads.note("list", clients)
        users = appbuilder.sm.user_model
        return {
            "breach": breach,
            "persons": persons,
            "may_manage": may_manage,
            "may_report": sm.has_access("can_report", self.class_permission_name),
            "languages": DOCUMENT_LANGUAGES,
            "staff": list(db.session.scalars(db.select(users).order_by(users.username))) if may_manage else [],
            "roles": [(role.name, label_of_role(role.name)) for role in appbuilder.sm.get_all_roles()] if may_manage else [],
            "categories": register.category_labels(),
        }

    @expose("/<int:pk>/affected", methods=["POST"])
    @has_access
    @permission_name("affected")
    def affected(self, pk):
        """Find the persons the breach affected and save them with it: whose data an account or role opened or
        changed in a time window, or everyone of whom a category of data is held."""
        breach = _breach(pk, names_persons=True)
        category = request.form.get("category") or None
        try:
            if category is not None:
                if category not in register.category_labels():
                    raise service.BreachError(str(UNKNOWN_ACTOR_MESSAGE))
                found = service.holding(db.session, category)
            else:
                found = service.find_affected(db.session, _window())
        except service.BreachError as error:
            raise refusal(400, str(error)) from None
        count = service.save_affected(db.session, breach, found)
        flash(gettext("Persons affected by the breach: %(count)d.", count=count), "info")
        return redirect(url_for(".show", pk=pk))

    @expose("/<int:pk>/report")
    @has_access
    @permission_name("report")
    def report(self, pk):
        """The notification for the supervisory authority (Art. 33(3)) as a document, in Polish or English."""
        breach = _breach(pk)
        language = choice_arg("language", DOCUMENT_LANGUAGES) or "pl"
        with force_locale(language):
            body = self.render_template(
                "breaches/report.html", breach=breach, language=language, labels=LABELS,
                controller=register.controller(), prepared_on=shown_time(utcnow()), zone=zone_note(),
                state=service.notification_label(breach.notification), shown_time=shown_time,
                data_categories=register.labels_of(breach.data_categories, register.category_labels()),
                subject_categories=register.labels_of(breach.subject_categories, SUBJECT_CATEGORY_LABELS),
            )
        name = f"naruszenie-{pk}-zgloszenie.html" if language == "pl" else f"breach-{pk}-report.html"
        return Response(body, mimetype="text/html", headers={"Content-Disposition": f"attachment; filename={name}"})

    @expose("/<int:pk>/notify", methods=["POST"])
    @has_access
    @permission_name("notify")
    def notify(self, pk):
        """Tell the affected persons not yet told (Art. 34): by email where the card has one, else a letter to print."""
        breach = _breach(pk, names_persons=True)
        language, channel = request.form.get("language"), request.form.get("channel")
        if language not in DOCUMENT_LANGUAGES or channel not in letters.CHANNELS:
            raise refusal(400, letters.BAD_CHOICE_MESSAGE)
        outcome = letters.notify(db.session, breach, language, channel)
        reads.note("export", outcome.client_ids)
        if outcome.letters is not None:
            return Response(outcome.letters, mimetype="text/html", headers={
                "Content-Disposition": f"attachment; filename=breach-{pk}-letters.html",
            })
        flash(gettext("Emails sent: %(sent)d; not sent: %(failed)d.", sent=outcome.emailed, failed=outcome.failed), "info")
        return redirect(url_for(".show", pk=pk))


def _window() -> service.Window:
    """The time window and staff account or role the affected-persons form names."""
    since, until = from_office_time(request.form.get("since", "")), from_office_time(request.form.get("until", ""))
    user_id, role = request.form.get("user") or None, request.form.get("role") or None
    if since is None or until is None:
        raise service.BreachError(str(service.WINDOW_MESSAGE))
    if user_id is not None and not (user_id.isdigit() and db.session.get(appbuilder.sm.user_model, int(user_id))):
        raise service.BreachError(str(UNKNOWN_ACTOR_MESSAGE))
    if role is not None and appbuilder.sm.find_role(role) is None:
        raise service.BreachError(str(UNKNOWN_ACTOR_MESSAGE))
    return service.Window(since, until, int(user_id) if user_id else None, role)


def _breach(pk: int, names_persons: bool = False) -> Breach:
    """The breach, or a 404; an action naming its persons needs their data in clear."""
    breach = db.session.get(Breach, pk)
    if breach is None:
        abort(404)
    if names_persons and not sees_personal_data():
        raise refusal(403, NEEDS_CLEAR_DATA)
    return breach


def _clients(client_ids) -> list[Client]:
    # the keys of the page's persons in one round trip to the key store
    key_store().prefetch(db.session.scalars(db.select(Client.data_key_id).where(Client.id.in_(client_ids))))
    return list(db.session.scalars(db.select(Client).where(Client.id.in_(client_ids))))
