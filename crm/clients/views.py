"""Generated screens of the client card, its contact persons and notes."""

from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, g, redirect, request, session, url_for
from flask_appbuilder import expose, has_access, permission_name
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from crm import searches
from crm.accountability import reads
from crm.attributes.filters import CardInterface
from crm.attributes.kinds import shown
from crm.attributes.views import CardLayout
from crm.clients import bulk_changes, duplicates, service
from crm.clients.choices import CLIENT_KIND_LABELS, CLIENT_STATUS_LABELS, NOTE_KIND_LABELS, country_name, label_of
from crm.clients.labels import CLIENT_LABELS, CONTACT_LABELS, NOTE_LABELS
from crm.clients.models import Client, ContactPerson, Note
from crm.clients.validation import MAX_TYPED_IDENTIFIER, client_errors, contact_errors, digits_only, normalize_nip
from crm.errors import refusal
from crm.forms import LocalDateField, RuleValidator, rule_validators
from crm.gdpr.views import ConsentModelView, DataSubjectRequestModelView, RestrictionModelView
from crm.mailing.views import SubscriptionModelView
from crm.modelviews import CardRowView, VersionedModelView
from crm.privacy.filters import PrivacyAwareInterface
from crm.privacy.categories import FREE_TEXT, IDENTITY
from crm.privacy.masking import can_see, column_category, mask_free_text


LIST_EXPORT_NEEDS_CLEAR_DATA = _l("A list export holds the clients' names in clear: your role may not see them.")
BULK_NOT_ALLOWED_MESSAGE = _l("Your role may not make this change.")
BAD_BULK_CHOICE_MESSAGE = _l("That choice is not on the form; open the page again.")
#: the session key of the cards ticked on the list for a bulk change (their ids only)
BULK_SELECTION = "crm_bulk_selection"


def _bulk_change(form, owners, lists, may) -> bulk_changes.BulkChange:
    """The change the bulk form asks for, each choice checked against the form's own options."""

    def chosen(name, allowed):
        value = form.get(name, "")
        if value == "":
            return None
        if value not in {str(option) for option in allowed}:
            raise refusal(400, BAD_BULK_CHOICE_MESSAGE)
        return value

    subscribe_to = chosen("subscribe_to", [list_id for list_id, _ in lists])
    unsubscribe_from = chosen("unsubscribe_from", [list_id for list_id, _ in lists])
    if (subscribe_to and not may["subscribe"]) or (unsubscribe_from and not may["unsubscribe"]):
        raise refusal(403, BULK_NOT_ALLOWED_MESSAGE)
    owner = chosen("owner", [user_id for user_id, _ in owners])
    return bulk_changes.BulkChange(
        status=chosen("status", CLIENT_STATUS_LABELS),
        owner_id=int(owner) if owner else None,
        subscribe_to=int(subscribe_to) if subscribe_to else None,
        unsubscribe_from=int(unsubscribe_from) if unsubscribe_from else None,
    )

CLIENT_FORM_COLUMNS = [
    "kind",
    "company_name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "nip",
    "pesel",
    "status",
    "owner",
    "remarks",
    "confirm_new_legal_basis",
    "confirm_duplicate",
]


def _choice_field(label, labels, rules=None):
    validators = [DataRequired()]
    if rules is not None:
        validators.append(RuleValidator(rules))
    return SelectField(
        label,
        choices=[(key, value) for key, value in labels.items()],
        validators=validators,
        widget=Select2Widget(),
    )




def _identifier_field(label, normalize):
    """A text field that drops separators before checking length and rules."""
    return StringField(
        label,
        filters=[lambda value: normalize(value) if value else value],
        widget=BS3TextFieldWidget(),
        validators=[Optional(), Length(max=MAX_TYPED_IDENTIFIER), RuleValidator(client_errors)],
    )


def _client_form_fields():
    return {
        "confirm_new_legal_basis": BooleanField(
            _l("New legal basis confirmed"),
            description=_l(
                "Tick only when Kartoteka warns that a person with this email, phone, NIP or PESEL was erased, and you have a "
                "new legal basis to process their data."
            ),
        ),
        "confirm_duplicate": BooleanField(
            duplicates.CONFIRM_LABEL,
            description=_l("Tick only after checking that the cards named above the form are another client."),
        ),
        "kind": _choice_field(_l("Kind"), CLIENT_KIND_LABELS, client_errors),
        "status": _choice_field(_l("Status"), CLIENT_STATUS_LABELS),
        "nip": _identifier_field(_l("NIP"), normalize_nip),
        "pesel": _identifier_field(_l("PESEL"), digits_only),
    }


class ContactPersonModelView(CardRowView):
    """Contact persons, also shown as a tab of the client card."""

    datamodel = PrivacyAwareInterface(ContactPerson)
    list_title = _l("Contact persons")
    show_title = _l("Contact person")
    add_title = _l("Add contact person")
    edit_title = _l("Edit contact person")
    label_columns = CONTACT_LABELS
    list_columns = ["first_name", "last_name", "position", "email", "phone", "client"]
    show_columns = ["client", "first_name", "last_name", "position", "email", "phone"]
    add_columns = ["client", "first_name", "last_name", "position", "email", "phone"]
    # a record stays on the card it was added to (and a select of every client would not scale)
    edit_columns = [column for column in add_columns if column != "client"]
    # No "client" filter: its select would list every client. A card's contact
    # persons are on the card's tab.
    search_columns = ["first_name", "last_name", "email", "phone"]
    #: names are stored encrypted: they cannot be sorted by the database
    order_columns: list[str] = []
    validators_columns = rule_validators(contact_errors, ["email", "phone"])
    add_from_parent = "client"


class NoteModelView(CardRowView):
    """Notes and activities, also shown as a tab of the client card."""

    datamodel = PrivacyAwareInterface(Note)
    list_title = _l("Notes and activities")
    show_title = _l("Note")
    add_title = _l("Add note or activity")
    edit_title = _l("Edit note or activity")
    label_columns = NOTE_LABELS
    list_columns = ["occurred_on", "kind", "text", "author", "client"]
    show_columns = ["client", "kind", "occurred_on", "text", "author", "created_at"]
    add_columns = ["client", "kind", "occurred_on", "text"]
    # a record stays on the card it was added to (and a select of every client would not scale)
    edit_columns = [column for column in add_columns if column != "client"]
    search_columns = ["kind", "occurred_on", "author"]
    order_columns = ["occurred_on", "kind"]
    base_order = ("occurred_on", "desc")
    formatters_columns = {"kind": lambda key: label_of(NOTE_KIND_LABELS, key)}
    add_form_extra_fields = {
        "kind": _choice_field(_l("Kind"), NOTE_KIND_LABELS),
        "occurred_on": LocalDateField(_l("Date"), default=date.today, validators=[DataRequired()]),
    }
    edit_form_extra_fields = dict(add_form_extra_fields)
    add_from_parent = "client"

    def pre_add(self, item):
        super().pre_add(item)
        if item.author is None:
            item.author = g.user


def _stored_attribute(definition_id: int):
    def value(client):
        for row in client.attribute_values:
            if row.definition_id == definition_id:
                return row.stored
        return None

    return value


def _ticked(item, confirmation: str) -> bool:
    """A confirmation tick of the form (not a column), set on the record by populate_obj."""
    return bool(getattr(item, confirmation, False))


class ClientModelView(CardLayout, VersionedModelView):
    """The client card: list, show (with related tabs), add, edit, delete; with the company's attributes."""

    datamodel = CardInterface(Client)
    list_title = _l("Clients")
    show_title = _l("Client card")
    add_title = _l("Add client")
    edit_title = _l("Edit client")
    label_columns = CLIENT_LABELS
    list_columns = ["display_name", "kind", "email", "phone", "city", "status", "owner"]
    show_fieldsets = [
        (_l("Client"), {"fields": ["kind", "company_name", "first_name", "last_name", "status", "owner"]}),
        (_l("Contact"), {"fields": ["email", "phone", "street", "postal_code", "city", "country"]}),
        (_l("Identifiers"), {"fields": ["nip", "pesel"]}),
        (_l("Remarks"), {"fields": ["remarks"]}),
        (_l("Record"), {"fields": ["created_at", "updated_at", "lock_version"], "expanded": False}),
    ]
    add_columns = CLIENT_FORM_COLUMNS
    edit_columns = CLIENT_FORM_COLUMNS
    #: the search box first: "word_index" is the whole card (crm.privacy.filters.FilterFindsAnywhere)
    search_columns = [
        "word_index",
        "company_name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "city",
        "status",
        "kind",
        "owner",
        "mailing_lists",
        "nip",
        "pesel",
        "created_at",
        "attribute_values",
    ]
    #: ``key=value`` is typed: FAB's default for a relation is a select of
    #: every attribute value in the base (300,000 options at 100,000 clients).
    search_form_extra_fields = {
        "attribute_values": StringField(CLIENT_LABELS["attribute_values"], widget=BS3TextFieldWidget()),
    }
    #: personal columns are stored encrypted: the database cannot sort them
    order_columns = ["kind", "status", "created_at", "updated_at"]
    base_order = ("updated_at", "desc")
    formatters_columns = {
        "kind": lambda key: label_of(CLIENT_KIND_LABELS, key),
        "status": lambda key: label_of(CLIENT_STATUS_LABELS, key),
        "country": country_name,
    }
    add_form_extra_fields = _client_form_fields()
    edit_form_extra_fields = _client_form_fields()
    validators_columns = rule_validators(
        client_errors,
        ["company_name", "first_name", "last_name", "email", "phone", "postal_code", "country"],
    )
    related_views = [
        ContactPersonModelView, NoteModelView, SubscriptionModelView,
        ConsentModelView, RestrictionModelView, DataSubjectRequestModelView,
    ]

    #: shown only when a save asks for them (crm.modelviews.VersionedModelView.confirmation_columns)
    confirmation_columns = ("confirm_new_legal_basis", "confirm_duplicate")

    def pre_update(self, item):
        service.prepare_for_save(
            item,
            acting_user=g.user,
            confirmed_new_basis=_ticked(item, "confirm_new_legal_basis"),
            confirmed_duplicate=_ticked(item, "confirm_duplicate"),
        )
        self.save_attributes(item)

    pre_add = pre_update

    def describe_refusal(self, error) -> dict:
        """The cards a refused save found the same NIP, PESEL or email on, for the form to link."""
        if isinstance(error, duplicates.DuplicateCardError):
            return {"duplicate_cards": self.duplicate_cards(error.duplicates)}
        return {}

    def duplicate_cards(self, duplicates) -> list[tuple[str, str, int]]:
        """(field label, card name, card id) of each card a save found the same value on.

        Adding and editing a card require seeing names (crm.security.capabilities), so the names are shown.
        """
        names = dict(self.datamodel.session.execute(
            select(Client.id, Client).where(Client.id.in_({d.client_id for d in duplicates}))
        ).all())
        reads.note("card", names)
        return [(CLIENT_LABELS[d.field], names[d.client_id].display_name, d.client_id) for d in duplicates]

    def pre_delete(self, item):
        service.check_deletable(item)

    def card_of(self, item) -> int | None:
        return item.id

    list_template = "crm/client_list.html"
    #: changing many cards at once is editing them
    method_permission_name = {"bulk": "edit"}

    def _searched(self):
        """A query of the cards of the search the address names (``_s``), or of every card."""
        saved = searches.recall(request.args.get(searches.TOKEN_ARG))
        self._filters.clear_filters()
        if saved is not None:
            self.require_searchable(saved)
            searches.apply_filter_fields(self._filters, saved)
        return self._filters.apply_all(self.datamodel.session.query(Client))

    @expose("/export/<fmt>")
    @has_access
    @permission_name("export_list")
    def export_list(self, fmt):
        """The list with its current search as CSV or XLSX: the columns the role sees in clear, names at least."""
        if fmt not in ("csv", "xlsx"):
            abort(404)
        return self._exported(self._searched(), fmt)

    def _exported(self, query, fmt: str) -> Response:
        """Cards as a CSV or XLSX file: the columns the role sees in clear, names at least; never a restricted card."""
        from crm.attributes.service import active_definitions, hidden_fields
        from crm.gdpr.service import restricted_clients
        from crm.imports.service import BUILTIN_TARGETS
        from crm.imports.views import export_rows

        if not can_see(IDENTITY):
            raise refusal(403, LIST_EXPORT_NEEDS_CLEAR_DATA)
        database = self.datamodel.session
        # a restricted card may not be exported to a list (Art. 18)
        query = query.filter(Client.id.not_in(restricted_clients())).order_by(Client.id).yield_per(1000)
        hidden = hidden_fields(database)
        # a masked value is of no use in a file: the columns the role may not see are left out
        columns = [name for name in BUILTIN_TARGETS if name not in hidden and can_see(column_category(Client, name))]
        definitions = [d for d in active_definitions(database) if not d.personal or can_see(FREE_TEXT)]
        labels = [CLIENT_LABELS[name] for name in columns] + [d.label for d in definitions]
        columns += [_stored_attribute(d.id) for d in definitions]
        body, mimetype = export_rows(fmt, query, columns, labels)
        return Response(body, mimetype=mimetype, headers={
            "Content-Disposition": f"attachment; filename=kartoteka-klienci.{fmt}",
        })

    @action("bulk", _l("Change or export the selected cards"), None, "fa-pencil", single=False)
    def bulk(self, items):
        """The ticked cards of the list, to one change (or an export) on the next page."""
        session[BULK_SELECTION] = [item.id for item in items if item is not None]
        return redirect(url_for(f"{self.endpoint}.bulk_change"))

    @expose("/bulk", methods=["GET", "POST"])
    @has_access
    @permission_name("edit")
    def bulk_change(self):
        """One change to many cards: the ticked ones, or every card of a search (``_s``)."""
        from crm.mailing.models import MailingList
        from crm.security.models import User

        sm = self.appbuilder.sm
        if request.args.get(searches.TOKEN_ARG):
            card_ids = [card.id for card in self._searched().with_entities(Client.id).limit(bulk_changes.MAX_CARDS + 1)]
        else:
            card_ids = [int(card_id) for card_id in session.get(BULK_SELECTION, []) if str(card_id).isdigit()]
        may = {
            "subscribe": sm.has_access("can_add", "SubscriptionModelView"),
            "unsubscribe": sm.has_access("can_delete", "SubscriptionModelView"),
            "export": sm.has_access("can_export_list", self.class_permission_name),
        }
        owners = [(user.id, str(user)) for user in self.datamodel.session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.first_name, User.last_name))]
        lists = [(mailing_list.id, mailing_list.name) for mailing_list in self.datamodel.session.scalars(
            select(MailingList).order_by(MailingList.name))]
        status = 200
        if request.method == "POST":
            if request.form.get("action") == "export":
                if not may["export"]:
                    raise refusal(403, BULK_NOT_ALLOWED_MESSAGE)
                return self._exported(self.datamodel.session.query(Client).filter(Client.id.in_(card_ids)), "csv")
            change = _bulk_change(request.form, owners, lists, may)
            try:
                changed = bulk_changes.apply(self.datamodel.session, card_ids, change, acting_user=g.user)
            except bulk_changes.BulkRefused as error:
                flash(str(error), "danger")
                status = error.status
            else:
                session.pop(BULK_SELECTION, None)
                flash(gettext("Changed %(count)d cards in one step of the history.", count=changed), "success")
                return redirect(url_for(f"{self.endpoint}.list", **({searches.TOKEN_ARG: request.args[searches.TOKEN_ARG]}
                                                                     if request.args.get(searches.TOKEN_ARG) else {})))
        return self.render_template(
            "crm/bulk.html", title=_l("Change many cards"), count=len(card_ids), too_many=len(card_ids) > bulk_changes.MAX_CARDS,
            statuses=list(CLIENT_STATUS_LABELS.items()), owners=owners, lists=lists, may=may,
        ), status

    def show_extra(self, pk, item) -> dict:
        from crm.attributes.service import archived_values
        from crm.history.service import card_record

        from crm.gdpr.service import active_restriction
        from crm.gdpr.views import gdpr_actions

        return {
            "restriction": active_restriction(self.datamodel.session, int(pk)),
            "archived_attributes": [
                (definition.label, mask_free_text(shown(definition.spec, stored)) if definition.personal else shown(definition.spec, stored))
                for definition, stored in archived_values(item)
            ],
            "record": card_record(self.datamodel.session, int(pk)),
            "history_visible": self.appbuilder.sm.has_access("can_show", "ClientHistoryView"),
            **gdpr_actions(),
            "reads_visible": self.appbuilder.sm.has_access("can_list", "ReadLogView"),
        }
