"""Screens and API of the GDPR tools: requests, consents, restrictions, dashboard, export, erase, retention."""

from __future__ import annotations

import io
import json
from datetime import date

from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, ModelView, expose, has_access, permission_name
from flask_appbuilder.api import BaseApi, protect
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import DataRequired, Optional

from crm.clients.choices import label_of
from crm.accountability import reads
from crm.accountability.trail import last_verification
from crm.breaches import service as breach_rules
from crm.clients.models import Client
from crm.clients.service import card_name
from crm.clients.validation import is_valid_email
from crm.errors import AnswersUnavailable, refusal
from crm.forms import LocalDateField
from crm.extensions import db
from crm.gdpr import erasure, export, service
from crm.gdpr.choices import (
    BASIS_LABELS,
    CONSENT_LABELS,
    CONSENT_SOURCE_LABELS,
    EVENT_LABELS,
    PURPOSE_LABELS,
    REQUEST_KIND_LABELS,
    REQUEST_LABELS,
    REQUEST_STATUS_LABELS,
    RESTRICTION_LABELS,
    VERIFICATION_LABELS,
)
from crm.gdpr.models import Consent, DataSubjectRequest, GdprEvent, Restriction
from crm.gdpr.service import MAX_REASON, MIN_REASON, NO_GROUNDS_MESSAGE
from crm.modelviews import NoFileDownload, PostedSearch, RequestFilters, ShownColumns, VersionedModelView
from crm.privacy.filters import PrivacyAwareInterface
from crm.privacy.categories import IDENTITY
from crm.privacy.masking import can_see, sees_personal_data

DATES_MESSAGE = _l("The end date cannot come before the start date.")
FUTURE_MESSAGE = _l("A consent cannot be given on a future date.")
EXPORT_NEEDS_CLEAR_DATA = _l("An export holds personal data in clear: your role may not see it.")
ERASE_NEEDS_CLEAR_DATA = _l(
    "Erasing needs the person's data in clear, to check whom you erase: your role may not see all of it."
)


def _select(label, labels, required=True):  # pragma: no mutate block (runs at import or app creation)
    return SelectField(
        label,
        choices=([] if required else [("", "—")]) + list(labels.items()),
        validators=[DataRequired()] if required else [Optional()],
        widget=Select2Widget(),
    )


HANDOVER_FORM_MESSAGE = _l("Give a valid email address and the language of the document: Polish or English.")


def _requester_email(item) -> str:
    """Where the person's data goes by default: the address their public request came from, else the card's.

    Only a request of a card is handed over (``may_hand_over``).
    """
    if item.public_request is not None:
        return item.public_request.email
    return item.client.email or ""


def _date(label, required=True):  # pragma: no mutate block (runs at import or app creation)
    return LocalDateField(label, validators=[DataRequired()] if required else [Optional()])


class ConsentModelView(VersionedModelView):
    """Consents and other lawful bases of a client, a tab of the card; withdrawn, never deleted."""

    datamodel = PrivacyAwareInterface(Consent)
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    list_title = _l("Consents and lawful bases")
    show_title = _l("Consent or lawful basis")
    add_title = _l("Record a consent or lawful basis")
    edit_title = _l("Edit or withdraw a consent")
    label_columns = CONSENT_LABELS
    list_columns = ["client", "purpose", "lawful_basis", "given_on", "withdrawn_on", "source"]
    show_columns = ["client", "purpose", "lawful_basis", "given_on", "source", "evidence", "withdrawn_on"]
    add_columns = ["client", "purpose", "lawful_basis", "given_on", "source", "evidence"]
    edit_columns = ["purpose", "lawful_basis", "given_on", "source", "evidence", "withdrawn_on"]
    search_columns = ["purpose", "lawful_basis", "given_on", "withdrawn_on"]
    order_columns = ["given_on", "withdrawn_on"]
    base_order = ("given_on", "desc")
    formatters_columns = {
        "purpose": lambda key: label_of(PURPOSE_LABELS, key),
        "lawful_basis": lambda key: label_of(BASIS_LABELS, key),
        "source": lambda key: label_of(CONSENT_SOURCE_LABELS, key),
    }
    add_form_extra_fields = {
        "purpose": _select(_l("Purpose"), PURPOSE_LABELS),
        "lawful_basis": _select(_l("Lawful basis"), BASIS_LABELS),
        "source": _select(_l("Source"), CONSENT_SOURCE_LABELS),
        "given_on": _date(_l("Given on")),
    }
    edit_form_extra_fields = {**add_form_extra_fields, "withdrawn_on": _date(_l("Withdrawn on"), required=False)}
    add_from_parent = "client"

    def pre_add(self, item):
        self._check_dates(item)

    def pre_update(self, item):
        self._check_dates(item)
        # a withdrawn basis for email marketing ends the client's subscriptions in the same save
        service.end_subscriptions_without_basis(db.session, item.client, changed=item)

    @staticmethod
    def _check_dates(item):
        if item.given_on and item.given_on > date.today():
            raise ValueError(str(FUTURE_MESSAGE))
        if item.withdrawn_on and item.given_on and item.withdrawn_on < item.given_on:
            raise ValueError(str(DATES_MESSAGE))


class RestrictionModelView(VersionedModelView):
    """Restrictions of processing (Art. 18), a tab of the card; lifted, never deleted."""

    datamodel = PrivacyAwareInterface(Restriction)
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    list_title = _l("Restrictions of processing")
    show_title = _l("Restriction of processing")
    add_title = _l("Restrict processing")
    edit_title = _l("Edit or lift a restriction")
    label_columns = RESTRICTION_LABELS
    list_columns = ["client", "since", "until", "lifted_on", "created_by"]
    show_columns = ["client", "since", "until", "reason", "lifted_on", "created_by"]
    add_columns = ["client", "since", "until", "reason"]
    edit_columns = ["since", "until", "reason", "lifted_on"]
    search_columns = ["since", "until", "lifted_on"]
    order_columns = ["since"]
    base_order = ("since", "desc")
    add_form_extra_fields = {"since": _date(_l("Since")), "until": _date(_l("Until"), required=False)}
    edit_form_extra_fields = {**add_form_extra_fields, "lifted_on": _date(_l("Lifted on"), required=False)}
    add_from_parent = "client"

    def pre_add(self, item):
        self._check_dates(item)
        item.created_by = g.user

    def pre_update(self, item):
        self._check_dates(item)

    @staticmethod
    def _check_dates(item):
        for end in (item.until, item.lifted_on):
            if end and item.since and end < item.since:
                raise ValueError(str(DATES_MESSAGE))


class DataSubjectRequestModelView(VersionedModelView):
    """The register of data-subject requests, with deadlines; kept as proof, never deleted."""

    datamodel = PrivacyAwareInterface(DataSubjectRequest)
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_handover"]
    list_title = _l("Data-subject requests")
    show_title = _l("Data-subject request")
    add_title = _l("Register a data-subject request")
    edit_title = _l("Handle a data-subject request")
    show_template = "gdpr/request_show.html"
    label_columns = REQUEST_LABELS
    list_columns = ["id", "kind", "client", "received_on", "deadline", "status", "handler"]
    show_columns = [
        "id", "kind", "client", "received_on", "due_on", "extended_until", "extension_reason", "verification_method",
        "verified_on", "verified_by", "status", "handler", "outcome", "completed_on",
    ]
    add_columns = ["client", "kind", "received_on", "verification_method", "verified_on", "handler"]
    edit_columns = [
        "kind", "received_on", "verification_method", "verified_on", "status", "handler", "extended_until",
        "extension_reason", "outcome", "completed_on",
    ]
    search_columns = ["kind", "status", "received_on", "due_on", "handler"]
    order_columns = ["id", "received_on", "due_on", "status"]
    base_order = ("due_on", "asc")
    formatters_columns = {
        "kind": lambda key: label_of(REQUEST_KIND_LABELS, key),
        "status": lambda key: label_of(REQUEST_STATUS_LABELS, key),
        "verification_method": lambda key: label_of(VERIFICATION_LABELS, key),
    }
    add_form_extra_fields = {
        "kind": _select(_l("Kind"), REQUEST_KIND_LABELS),
        "received_on": _date(_l("Received on")),
        "verification_method": _select(_l("Identity verified by"), VERIFICATION_LABELS, required=False),
        "verified_on": _date(_l("Identity verified on"), required=False),
    }
    edit_form_extra_fields = {
        **add_form_extra_fields,
        "status": _select(_l("Status"), REQUEST_STATUS_LABELS),
        "extended_until": _date(_l("Extended until"), required=False),
        "completed_on": _date(_l("Completed on"), required=False),
    }
    add_from_parent = "client"

    def pre_add(self, item):
        item.status = "received"
        self._prepare(item)
        if item.kind == "objection" and item.client is not None:
            service.object_to_marketing(db.session, item.client)

    def pre_update(self, item):
        self._prepare(item)

    @staticmethod
    def _prepare(item):
        item.verification_method = item.verification_method or None
        if item.verified_on and item.verified_by is None:
            item.verified_by = g.user
        service.prepare_request(item)

    def show_extra(self, pk, item) -> dict:
        from crm.public.handover import handovers_of

        may_hand_over = item.client_id is not None and sees_personal_data() and \
            self.appbuilder.sm.has_access("can_handover", self.class_permission_name)
        return {
            "request_item": item, **gdpr_actions(), "may_hand_over": may_hand_over,
            "handovers": handovers_of(db.session, item.id) if may_hand_over else [],
            "handover_email": _requester_email(item) if may_hand_over else "",
            "languages": export.DOCUMENT_LANGUAGES,
        }

    @expose("/<int:pk>/handover", methods=["POST"])
    @has_access
    @permission_name("handover")
    def handover(self, pk):
        """Send the person a link to their export; show the officer the code to give them another way."""
        from crm.public import handover
        from crm.public.views import send_handover_link

        found = self.datamodel.get(pk)
        if found is None:
            abort(404)
        if not sees_personal_data():
            raise refusal(403, EXPORT_NEEDS_CLEAR_DATA)
        email, language = (request.form.get("email") or "").strip(), request.form.get("language")
        if language not in export.DOCUMENT_LANGUAGES or not (len(email) <= 254 and is_valid_email(email)):
            raise refusal(400, HANDOVER_FORM_MESSAGE)
        try:
            token, code = handover.send(db.session, found, email, language, g.user)
        except handover.HandoverError as error:
            raise refusal(400, str(error)) from None
        sent = send_handover_link(email, token, language)
        reads.note("export", [found.client_id])
        return self.render_template(
            "gdpr/handover_sent.html", title=_l("Data sent to the person"), code=code, sent=sent, request_item=found,
        )


class GdprEventModelView(RequestFilters, NoFileDownload, ShownColumns, PostedSearch, ModelView):
    """The record of exports and erasures: who, when, which request, how much; read only."""

    datamodel = PrivacyAwareInterface(GdprEvent)
    base_permissions = ["can_list", "can_show"]
    list_title = _l("Exports and erasures")
    show_title = _l("Export or erasure")
    label_columns = {
        "occurred_at": _l("Time"),
        "kind": _l("Kind"),
        "client_number": _l("Client number"),
        "request": _l("Request"),
        "reason": _l("Reason"),
        "user": _l("By"),
        "counts": _l("Records"),
    }
    list_columns = ["occurred_at", "kind", "client_number", "request", "user"]
    show_columns = ["occurred_at", "kind", "client_number", "request", "reason", "user", "counts"]
    search_columns = ["kind", "client_number", "occurred_at", "user"]
    order_columns = ["occurred_at", "client_number"]
    base_order = ("occurred_at", "desc")
    formatters_columns = {
        "kind": lambda key: label_of(EVENT_LABELS, key),
        "user": lambda user: str(user) if user else gettext("system"),
        "request": lambda request: f"#{request.id}" if request else "",
        "counts": lambda counts: _counted(json.loads(counts)),
    }


def _counted(counts: dict) -> str:
    """An event's records per place, as "Client cards: 1 (versions: 3)", in the places' own words."""
    labels = erasure.record_labels()
    return "; ".join(
        gettext("%(place)s: %(rows)d (versions: %(versions)d)", place=labels.get(table, table),
                rows=held["rows"], versions=held["versions"])
        for table, held in sorted(counts.items(), key=lambda item: labels.get(item[0], item[0]))
        if held["rows"] or held["versions"]
    )


def gdpr_actions() -> dict:
    """Which of the officer's actions on a person the signed-in user may take (the buttons shown)."""
    sm = current_app.appbuilder.sm
    return {
        "export_visible": sm.has_access("can_export", "GdprView"),
        "erase_visible": sm.has_access("can_erase", "GdprView"),
    }


def _request_id() -> int | None:
    value = request.values.get("request", "")
    return int(value) if value.isdigit() and int(value) < 2**62 else None


def _client_label(client_id: int) -> str:
    client = db.session.get(Client, client_id)
    if client is None:
        return f"#{client_id}"
    return f"#{client_id} {card_name(client)}"


class GdprView(BaseView):
    """The data protection officer's tools: dashboard, export, erasure, retention."""

    route_base = "/gdpr"
    default_view = "dashboard"
    place_title = _l("Data protection")

    @expose("/")
    @has_access
    @permission_name("dashboard")
    def dashboard(self):
        overdue, due = service.open_requests(db.session)
        counts = service.requests_by_kind_and_status(db.session)
        breaches = breach_counts = None
        if self.appbuilder.sm.has_access("can_list", "BreachModelView"):
            breaches = [
                (breach, breach_rules.notification_label(breach.notification)) for breach in breach_rules.unreported(db.session)
            ]
            states = [breach.notification[0] for breach, _ in breaches]
            breach_counts = {state: states.count(state) for state in (breach_rules.OVERDUE, breach_rules.RUNNING)}
        largest = max([*counts.values(), *(breach_counts or {}).values()], default=1) or 1
        return self.render_template(
            "gdpr/dashboard.html",
            title=_l("GDPR requests: deadlines"),
            overdue=overdue,
            due=due,
            counts=counts,
            largest=largest,
            kinds=REQUEST_KIND_LABELS,
            statuses=REQUEST_STATUS_LABELS,
            today=date.today(),
            trail_check=last_verification(db.session),
            breaches=breaches,
            breach_counts=breach_counts,
        )

    @expose("/client/<int:pk>/export", methods=["GET"])
    @has_access
    @permission_name("export")
    def export_form(self, pk):
        """Ask which request the export answers, or why it is made; the export itself is a POST."""
        if not sees_personal_data():
            raise refusal(403, EXPORT_NEEDS_CLEAR_DATA)
        if db.session.get(Client, pk) is None:
            abort(404)
        return self._grounds_page("gdpr/export.html", _l("Export a person's data"), pk)

    @expose("/client/<int:pk>/export", methods=["POST"])
    @has_access
    @permission_name("export")
    def export(self, pk):
        """The ZIP of everything held about the person, recorded with its request or reason."""
        if not sees_personal_data():
            raise refusal(403, EXPORT_NEEDS_CLEAR_DATA)
        try:
            data = export.collect(db.session, pk)
            language = request.form.get("language") or "pl"
            if language not in export.DOCUMENT_LANGUAGES:
                raise export.ExportError(export.BAD_LANGUAGE_MESSAGE, status=400)
            archive = export.package(db.session, data, language)
            export.record(db.session, pk, data, actor=g.user, request_id=_request_id(), reason=request.form.get("reason"))
        except export.ExportError as error:
            if db.session.get(Client, pk) is None:
                abort(404)
            flash(str(error), "danger")
            return self._grounds_page("gdpr/export.html", _l("Export a person's data"), pk, status=error.status)
        reads.note("export", [pk])
        return send_file(
            io.BytesIO(archive), mimetype="application/zip", as_attachment=True,
            download_name=f"kartoteka-client-{pk}.zip",
        )

    @expose("/client/<int:pk>/erase", methods=["GET"])
    @has_access
    @permission_name("erase")
    def erase_preview(self, pk):
        if not sees_personal_data():
            raise refusal(403, ERASE_NEEDS_CLEAR_DATA)
        try:
            preview = erasure.preview(db.session, pk)
        except erasure.ErasureError:
            abort(404)
        return self._erase_page(preview)

    def _grounds_page(self, template, title, client_id, status=200, **values):
        sharing = [card.client_id for card in getattr(values.get("preview"), "sharing", ())]
        reads.note("card", [client_id, *sharing], reads.masks_for_reader(Client))
        return self.render_template(
            template,
            title=title,
            client_id=client_id,
            client_label=_client_label(client_id),
            requests=service.requests_of(db.session, client_id),
            request_id=_request_id(),
            reason=request.form.get("reason", ""),
            kinds=REQUEST_KIND_LABELS,
            statuses=REQUEST_STATUS_LABELS,
            languages=export.DOCUMENT_LANGUAGES,
            **values,
        ), status

    def _erase_page(self, preview, status=200):
        return self._grounds_page("gdpr/erase.html", _l("Erase a person"), preview.client_id, status, preview=preview)

    @expose("/client/<int:pk>/erase", methods=["POST"])
    @has_access
    @permission_name("erase")
    def erase(self, pk):
        if not sees_personal_data():
            raise refusal(403, ERASE_NEEDS_CLEAR_DATA)
        try:
            preview = erasure.preview(db.session, pk)
        except erasure.ErasureError:
            abort(404)
        if request.form.get("confirm", "").strip().lstrip("#") != str(pk):
            flash(str(erasure.CONFIRMATION_MESSAGE), "danger")
            return self._erase_page(preview, status=400)
        also = request.form.getlist("also")
        if not all(card.isdigit() and len(card) < 10 for card in also):
            flash(str(erasure.NOT_SHARING_MESSAGE), "danger")
            return self._erase_page(preview, status=400)
        try:
            event = erasure.erase(db.session, pk, actor=g.user, request_id=_request_id(), reason=request.form.get("reason"),
                                  also=tuple(int(card) for card in also))
        except erasure.ErasureError as error:
            flash(str(error), "danger")
            return self._erase_page(preview, status=error.status)
        if also:
            flash(gettext("Erased with the person, each with its own record: cards %(numbers)s.",
                          numbers=", ".join(f"#{card}" for card in sorted(set(also), key=int))), "success")
        flash(gettext("The person was erased from every place; erasure record no. %(id)d.", id=event.id), "success")
        if event.request_id:
            return redirect(url_for("DataSubjectRequestModelView.show", pk=event.request_id))
        return redirect(url_for(f"{self.endpoint}.dashboard"))

    @expose("/retention")
    @has_access
    @permission_name("retention")
    def retention(self):
        years = current_app.config["CRM_RETENTION_INACTIVE_YEARS"]
        candidates = service.retention_candidates(db.session, years, limit=200)
        reads.note("list", [client.id for client, _last in candidates], not can_see(IDENTITY))
        return self.render_template(
            "gdpr/retention.html",
            title=_l("Retention: clients with no activity"),
            years=years,
            candidates=[
                (client.id, card_name(client), last)
                for client, last in candidates
            ],
        )


#: the bodies of the API's export and erasure, as its OpenAPI document states them
GROUNDS_PROPERTIES = {
    "request_id": {"type": "integer", "minimum": 1, "description": "The data-subject request this answers"},
    "reason": {
        "type": "string", "maxLength": MAX_REASON, "pattern": rf"^(\s*\S){{{MIN_REASON}}}",
        "description": f"Why, when no request is named: at least {MIN_REASON} characters besides spaces, no personal data",
    },
}
GROUNDS_SCHEMA = {
    "type": "object",
    "description": "A data-subject request of this client, or a written reason.",
    "properties": GROUNDS_PROPERTIES,
    "additionalProperties": False,
    "anyOf": [{"required": ["request_id"]}, {"required": ["reason"]}],
}
ERASURE_GROUNDS_SCHEMA = {
    **GROUNDS_SCHEMA,
    "properties": {
        **GROUNDS_PROPERTIES,
        "confirm": {"type": "boolean", "enum": [True], "description": "Confirms the erasure"},
        "also": {"type": "array", "maxItems": 50, "uniqueItems": True, "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                 "description": "Other cards sharing the person's email, phone, NIP or PESEL (see the preview) to erase with them"},
    },
    "required": ["confirm"],
}


def _grounds_of(body, extra_keys=()) -> tuple[int | None, str | None] | None:
    """The request id and reason of an API body, or None when it is not the body the document states."""
    if not isinstance(body, dict) or set(body) - {"request_id", "reason", *extra_keys}:
        return None
    request_id, reason = body.get("request_id"), body.get("reason")
    if "request_id" in body and (not isinstance(request_id, int) or isinstance(request_id, bool) or request_id < 1):
        return None
    if "reason" in body and not isinstance(reason, str):
        return None
    return request_id, reason


class GdprApi(AnswersUnavailable, BaseApi):
    """Export and erasure over the REST API, behind the same permissions as the screens.

    Both are POSTs naming the request they answer (``request_id``) or a written
    ``reason``; both are recorded.
    """

    resource_name = "gdpr"
    allow_browser_login = False
    openapi_spec_tag = "GDPR"

    def add_apispec_components(self, api_spec):
        super().add_apispec_components(api_spec)
        for name, schema in (("Grounds", GROUNDS_SCHEMA), ("ErasureGrounds", ERASURE_GROUNDS_SCHEMA)):
            if name not in api_spec.components.schemas:
                api_spec.components.schema(name, schema)

    @expose("/client/<int:pk>/export", methods=["POST"])
    @protect()
    @permission_name("export")
    def export(self, pk):
        """Everything held about a client, as JSON; the export is recorded.
        ---
        post:
          summary: Export everything held about a client (Art. 15, 20)
          parameters:
          - in: path
            name: pk
            required: true
            schema: {type: integer, minimum: 1}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/Grounds'
          responses:
            200:
              description: The export; its full form is the JSON Schema crm/gdpr/export.schema.json
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      format: {type: string}
                      generated_at: {type: string}
                      client_id: {type: integer}
                      places: {type: object}
                      recipients: {type: array}
                      information: {type: object}
        """
        if not sees_personal_data():
            return self.response(403, message=str(EXPORT_NEEDS_CLEAR_DATA))
        grounds = _grounds_of(request.get_json(silent=True))
        if grounds is None:
            return self.response_400(message=str(NO_GROUNDS_MESSAGE % {"min": MIN_REASON}))
        try:
            data = export.collect(db.session, pk)
            export.record(db.session, pk, data, actor=g.user, request_id=grounds[0], reason=grounds[1])
        except export.ExportError as error:
            return self.response(error.status, message=str(error))
        reads.note("export", [pk])
        return self.response(200, **data)

    @expose("/client/<int:pk>/erasure", methods=["GET"])
    @protect()
    @permission_name("erase")
    def erasure_preview(self, pk):
        """What erasing a client would remove, place by place.
        ---
        get:
          summary: Preview an erasure
          parameters:
          - in: path
            name: pk
            required: true
            schema: {type: integer, minimum: 1}
          responses:
            200:
              description: Records and earlier versions per place, and change records left empty
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      places:
                        type: object
                        additionalProperties:
                          type: object
                          properties:
                            rows: {type: integer}
                            versions: {type: integer}
                      transactions: {type: integer}
                      sharing:
                        description: Other cards with the person's email, phone, NIP or PESEL
                        type: array
                        items:
                          type: object
                          properties:
                            id: {type: integer}
                            shared: {type: array, items: {type: string}}
        """
        try:
            preview = erasure.preview(db.session, pk)
        except erasure.ErasureError as error:
            return self.response(error.status, message=str(error))
        return self.response(
            200,
            places={table: {"rows": live, "versions": versions} for table, _label, live, versions in preview.places},
            transactions=preview.transactions,
            sharing=[{"id": card.client_id, "shared": list(card.shared)} for card in preview.sharing],
        )

    @expose("/client/<int:pk>/erasure", methods=["POST"])
    @protect()
    @permission_name("erase")
    def erase(self, pk):
        """Erase a client everywhere; the body confirms it (``"confirm": true``).
        ---
        post:
          summary: Erase a client from every place (Art. 17)
          parameters:
          - in: path
            name: pk
            required: true
            schema: {type: integer, minimum: 1}
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/ErasureGrounds'
          responses:
            200:
              description: The erasure record
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      erasure_id: {type: integer}
                      counts: {type: string}
        """
        if not sees_personal_data():
            return self.response(403, message=str(ERASE_NEEDS_CLEAR_DATA))
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("confirm") is not True:
            return self.response_400(message=str(erasure.API_CONFIRMATION_MESSAGE))
        grounds = _grounds_of(body, extra_keys=("confirm", "also"))
        also = body.get("also", [])
        if grounds is None or not isinstance(also, list) or not all(type(card) is int for card in also):
            return self.response_400(message=str(NO_GROUNDS_MESSAGE % {"min": MIN_REASON}))
        try:
            event = erasure.erase(db.session, pk, actor=g.user, request_id=grounds[0], reason=grounds[1], also=tuple(also))
        except erasure.ErasureError as error:
            return self.response(error.status, message=str(error))
        return self.response(200, erasure_id=event.id, counts=event.counts)
