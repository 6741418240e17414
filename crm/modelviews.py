"""Base classes of the generated screens and REST APIs of versioned records.

They add to Flask-AppBuilder's what every Kartoteka record needs: optimistic
locking on ``lock_version`` and database errors reported without their SQL
(which can quote personal data) in the user's language.
"""

from __future__ import annotations

import re

from flask import abort, current_app, flash, g, has_request_context, make_response, redirect, request, session, url_for
from flask_appbuilder import ModelRestApi, ModelView, expose, has_access, permission_name
from flask_appbuilder.api import ModelKeyType, protect, safe
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.const import (
    API_ADD_COLUMNS_RES_KEY,
    API_EDIT_COLUMNS_RES_KEY,
    API_FILTERS_RES_KEY,
    API_PAGE_INDEX_RIS_KEY,
    API_PAGE_SIZE_RIS_KEY,
    API_RESULT_RES_KEY,
)
from flask_appbuilder.exceptions import ApplyFilterException, DatabaseException
from flask_appbuilder.fields import QuerySelectField
from flask_appbuilder.widgets import SearchWidget, ShowWidget
from flask_appbuilder.urltools import get_filter_args, get_order_args, get_page_args, get_page_size_args
from markupsafe import Markup
from flask_babel import lazy_gettext as _l
from flask_babel import gettext
from jsonschema import Draft4Validator
from marshmallow import ValidationError, fields
from sqlalchemy import Boolean, Date, DateTime
from sqlalchemy import inspect as sqlalchemy_inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from wtforms.fields.core import UnboundField

from crm import searches
from crm.accountability import reads
from crm.errors import BAD_FILTER_MESSAGE, AnswersUnavailable, raise_if_unavailable, refusal
from crm.forms import Rules, keep_rule_errors, schema_rules_mixin
from crm.guards import MAX_DATABASE_INTEGER, MAX_PAGE, MAX_PAGE_SIZE, NO_NUL
from crm.i18n import translated_errors
from crm.longtext import is_long_text, shortened
from crm.navigation import started_on
from crm.locking import CONFLICT_MESSAGE, MISSING_LOCK_MESSAGE, LockVersionField, is_current, parse_lock_version
from crm.privacy.filters import SEARCH_NOT_ALLOWED_MESSAGE
from crm.privacy.masking import can_search, hidden_mask, mask_record, masking_formatter
from crm.timeutil import shown_time

DELETE_FAILED_MESSAGE = _l(
    "The record could not be deleted because other data depends on it. Nothing was deleted."
)
SAVE_FAILED_MESSAGE = _l(
    "The record could not be saved because it conflicts with other data "
    "(for example a duplicate or a record that no longer exists). Nothing was changed."
)


MASKED_WRITE_MESSAGE = _l(
    "The record names personal data your role sees masked, so it may not write it either. Nothing was saved."
)
ADD_FROM_PARENT_MESSAGE = _l("Open the client card and add the record from its tab.")


def _is_conflict(error: Exception) -> bool:
    return isinstance(error, StaleDataError) or isinstance(error.__cause__, StaleDataError)


class RequestFilters:
    """A view whose active filters belong to the request, not to the view.

    FAB keeps them on the view object, which every request to it shares: under a
    threaded server (gunicorn's gthread) one person's search would filter, and be
    named above, another person's list at the same moment, or be lost from their own.
    """

    @property
    def _filters(self):
        shared = self.__dict__.get("_shared_filters")
        # None until FAB builds it (its start-up reads every attribute of the view first)
        if shared is None or not has_request_context():
            return shared
        own = g.setdefault("request_filters", {})
        if id(self) not in own:
            own[id(self)] = self.datamodel.get_filters(self.search_columns, getattr(self, "search_filters", None))
        return own[id(self)]

    @_filters.setter
    def _filters(self, filters):
        self.__dict__["_shared_filters"] = filters


class NoFileDownload:
    """Closes FAB's ``/download/<filename>`` route of a ModelView to every role.

    Kartoteka stores no files through FAB, and FAB 5.3's route answers 500 for a
    name it did not generate.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.base_permissions = [p for p in self.base_permissions if p != "can_download"]


def _column_type(model, column: str):
    """The SQL type of a mapped column or column property, None for anything else."""
    mapper = sqlalchemy_inspect(model, raiseerr=False)
    mapped = mapper.columns.get(column) if mapper is not None and hasattr(mapper, "columns") else None
    return getattr(mapped, "type", None)


def yes_no(value) -> str:
    """A flag as a word of the reader's language, not ``True``/``False``."""
    return gettext("Yes") if value else gettext("No")


def listed(records) -> str:
    """Records of a relation to many as words (each as it prints), not a Python list."""
    return ", ".join(str(record) for record in records)


def _default_formatter(model, column: str):
    """How a column reads without a formatter of its own: times and flags as words, related records by name."""
    mapper = sqlalchemy_inspect(model, raiseerr=False)
    relationship = mapper.relationships.get(column) if mapper is not None and hasattr(mapper, "relationships") else None
    if relationship is not None and relationship.uselist:
        return listed
    column_type = _column_type(model, column)
    if isinstance(column_type, (Date, DateTime)):
        return shown_time
    if isinstance(column_type, Boolean):
        return yes_no
    return None


class ShownColumns:
    """A screen whose list and show columns read as a person expects.

    Personal values the current user may not see are masked (per category);
    times are in the office's zone, without microseconds, dates as the
    language writes them (FAB prints the stored UTC value); a list shows the
    start of a long text, its record page all of it.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        model = self.datamodel.obj
        shown = {*self.list_columns, *self.show_columns}
        for _title, options in self.show_fieldsets or ():
            shown.update(options.get("fields", ()))
        formatters = dict(self.formatters_columns)
        for column in shown:
            if column not in formatters and _default_formatter(model, column) is not None:
                formatters[column] = _default_formatter(model, column)
        self.formatters_columns = formatters
        self._shown_columns = shown
        self.long_text_list_columns = [column for column in self.list_columns if is_long_text(_column_type(model, column))]

    def _drawn_formatters(self) -> dict:
        """The formatters a page is drawn with: masking first on every personal column.

        Applied when the page is drawn, not at start-up, so a formatter set
        later (a link, a label) formats the masked value instead of replacing the mask.
        """
        model = self.datamodel.obj
        # formatters_columns may be computed per request (a card's attributes): read it now
        formatters = dict(self.formatters_columns or {})
        return {
            **formatters,
            **{column: masking_formatter(model, column, blank_if_none(formatters.get(column))) for column in self._shown_columns},
        }

    def _get_list_widget(self, filters, *args, **kwargs):
        # the data interface counts a list page's matches up to this (crm.privacy.filters)
        g.list_count_limit = current_app.config["CRM_LIST_COUNT_LIMIT"]
        try:
            widgets = super()._get_list_widget(filters, *args, **kwargs)
        finally:
            g.pop("list_count_limit", None)
        if not g.get("listing_card_rows"):
            reads.note_rows(
                "search" if filters.get_filters_values() else "list",
                self.datamodel.session, self.datamodel.obj, widgets["list"].template_args["pks"],
            )
        formatters = self._drawn_formatters()
        for column in self.long_text_list_columns:
            formatters[column] = _then_shortened(formatters.get(column))
        widgets["list"].template_args["formatters_columns"] = formatters
        return widgets

    def _get_show_widget(self, pk, item, *args, **kwargs):
        reads.note_item("card", item)
        g.shown_item = item  # for the show page, which FAB's _show does not hand the record (VersionedModelView.show)
        widgets = super()._get_show_widget(pk, item, *args, **kwargs)
        widgets["show"].template_args["formatters_columns"] = self._drawn_formatters()
        return widgets


def card_link(client):
    """A row's card: its name linking to the card where the role opens cards (a masked name stays as it is)."""
    if client is None or isinstance(client, str):
        return client or ""
    if not current_app.appbuilder.sm.has_access("can_show", "ClientModelView"):
        return str(client)
    return Markup('<a href="{}">{}</a>').format(url_for("ClientModelView.show", pk=client.id), str(client))


def _then_shortened(formatter):
    def format_value(value):
        return shortened(formatter(value) if formatter else value)

    return format_value


class CrmSearchWidget(SearchWidget):
    """FAB's search form, posted so that search terms stay out of the address."""

    template = "crm/widgets/search.html"


SEARCH_EXPIRED_MESSAGE = _l("That search is no longer available; search again.")
SEARCH_TOO_LONG_MESSAGE = _l("A search term has at most %(max)d characters.")
#: longer terms find nothing a shorter one would not, and would not fit the session
MAX_SEARCH_TERM = 200


class CrmShowWidget(ShowWidget):
    """The record's fields, with edit and delete buttons where the role allows."""

    template = "crm/widgets/show.html"


def blank_if_none(formatter=None):
    """A column formatter showing an empty cell, not "None", for a missing value."""

    def format_value(value):
        if value is None:
            return ""
        return formatter(value) if formatter else value

    return format_value


def sortable(datamodel, columns) -> list[str]:
    """The columns the database can sort: not the encrypted ones (their order is random)."""
    is_encrypted = getattr(datamodel, "is_encrypted", lambda column: False)
    return [column for column in columns if not is_encrypted(column)]


def _label_blank_choices(form_class) -> None:
    """Give optional relation selects a visible "none" choice instead of "__None"."""
    for field in vars(form_class).values():
        if isinstance(field, UnboundField) and field.field_class is QuerySelectField:
            if field.kwargs.get("allow_blank"):
                field.kwargs["blank_text"] = "—"


_FILTER_NAME = re.compile(r"^_flt_\d+_(.+)$")


def filtered_columns(names) -> set[str]:
    """The columns named by ``_flt_<n>_<column>`` arguments or fields."""
    return {match.group(1) for match in map(_FILTER_NAME.match, names) if match}


class PostedSearch:
    """A ModelView whose search form is posted: terms stay out of its addresses.

    Its filters are those of the columns the user sees in clear: a filter on a
    masked column would tell its value by trying ("is it Kowalski?").
    """

    search_widget = CrmSearchWidget
    list_template = "crm/list.html"

    def searchable_columns(self) -> list[str]:
        """The search columns the current user may filter by."""
        model = self.datamodel.obj
        return [column for column in self.search_columns if can_search(model, column)]

    def require_searchable(self, names) -> None:
        """Refuse (403) a search naming a column the current user may not filter by."""
        allowed = set(self.searchable_columns())
        if (filtered_columns(names) - allowed) & set(self.search_columns):
            raise refusal(403, SEARCH_NOT_ALLOWED_MESSAGE)

    def _get_search_widget(self, form=None, exclude_cols=None, widgets=None):
        widgets = widgets or {}
        widgets["search"] = self.search_widget(
            route_base=self.route_base,
            form=form,
            include_cols=self.searchable_columns(),
            exclude_cols=exclude_cols or [],
            filters=self._filters,
        )
        return widgets

    def active_search(self) -> list[tuple[str, str, str]]:
        """The filters the list shows now, as (field label, filter, value), for the line above the list."""
        return [
            (str(self.label_columns.get(flt.column_name, flt.column_name)), str(flt.name),
             ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value))
            for flt, value in self._filters.get_filters_values()
        ]

    @expose("/search", methods=["POST"])
    @has_access
    @permission_name("list")
    def search(self):
        """Keep the posted search in the session and open the list by its token."""
        fields = searches.filter_fields(request.form)
        if any(len(value) > MAX_SEARCH_TERM for _name, value in fields):
            raise refusal(400, SEARCH_TOO_LONG_MESSAGE % {"max": MAX_SEARCH_TERM})
        self.require_searchable(name for name, _value in fields)
        if not any(value.strip() for _name, value in fields):
            # nothing typed: the whole list, as a cleared search
            return redirect(url_for(f"{self.endpoint}.list"))
        token = searches.remember(fields)
        return redirect(url_for(f"{self.endpoint}.list", **{searches.TOKEN_ARG: token}))

    def _list(self, **kwargs):
        try:
            return self._filtered_list(**kwargs)
        except ApplyFilterException:
            # A value the database cannot compare (e.g. text for a related record's id).
            self.datamodel.session.rollback()
            raise refusal(400, BAD_FILTER_MESSAGE) from None

    def _filtered_list(self, **kwargs):
        # FAB also takes filters from the address
        self.require_searchable(request.args.keys())
        token = request.args.get(searches.TOKEN_ARG)
        saved = searches.recall(token)
        if saved is not None:
            self.require_searchable(saved.keys())
        if token and saved is None:
            flash(str(SEARCH_EXPIRED_MESSAGE), "info")
        if saved is None:
            return super()._list(**kwargs)
        # FAB's _list, with the filters taken from the session instead of the URL.
        order_column, order_direction = get_order_args().get(type(self).__name__, ("", ""))
        searches.apply_filter_fields(self._filters, saved)
        g.active_search = self.active_search()
        widgets = self._get_list_widget(
            filters=self._filters,
            order_column=order_column,
            order_direction=order_direction,
            page=get_page_args().get(type(self).__name__),
            page_size=get_page_size_args().get(type(self).__name__),
            **kwargs,
        )
        self.update_redirect()
        return self._get_search_widget(form=self.search_form.refresh(), widgets=widgets)


def _refused_form_status(result):
    """A form posted and shown again (with its errors) is a refusal: 422, or 409 for a conflict."""
    if request.method != "POST" or not isinstance(result, str):
        return result
    return make_response(result, g.pop("refused_form_status", 422))


#: per-request form classes without masked fields, by (form class, masked fields)
_MASKED_FORMS: dict = {}


class VersionedModelView(RequestFilters, NoFileDownload, ShownColumns, PostedSearch, ModelView):
    """A ModelView whose edit form refuses to overwrite a newer version."""

    page_size = 25
    show_template = "crm/show.html"
    add_template = "crm/add.html"
    edit_template = "crm/edit.html"
    show_widget = CrmShowWidget
    #: Set to the relation name ("client") for records added only from their
    #: parent card's tab, which fixes the parent; a form choosing among every
    #: client would not scale to a real client base.
    add_from_parent: str | None = None

    @property
    def _related_views(self):
        """The related tabs the current user may list: FAB shows every tab, whatever the role."""
        views = self.__dict__.get("_all_related_views", [])
        if not has_request_context():
            return views
        # asked several times a request (show, its widgets, the template): the database once
        visible = g.setdefault("visible_related_views", {})
        if id(self) not in visible:
            sm = self.appbuilder.sm
            visible[id(self)] = [view for view in views if sm.has_access("can_list", view.class_permission_name)]
        return visible[id(self)]

    @_related_views.setter
    def _related_views(self, views):
        self.__dict__["_all_related_views"] = views

    def _get_related_views_widgets(self, item, *args, **kwargs):
        """FAB's related tabs; the tabs of a client's record list that client's rows, recorded with the record."""
        if not reads.is_about_a_client(item):
            return super()._get_related_views_widgets(item, *args, **kwargs)
        g.listing_card_rows = True
        try:
            return super()._get_related_views_widgets(item, *args, **kwargs)
        finally:
            g.pop("listing_card_rows", None)

    def __init__(self, **kwargs):
        shown = {*(self.list_columns or ()), *(self.show_columns or ())}
        if "client" in shown and "client" not in (self.formatters_columns or {}):
            self.formatters_columns = {**(self.formatters_columns or {}), "client": card_link}
        extra = dict(self.edit_form_extra_fields or {})
        extra["lock_version"] = LockVersionField()
        self.edit_form_extra_fields = extra
        self.edit_columns = [*self.edit_columns, "lock_version"]
        super().__init__(**kwargs)
        for form in (self.add_form, self.edit_form):
            _label_blank_choices(form)
            keep_rule_errors(form)
        self.order_columns = sortable(self.datamodel, self.order_columns)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """FAB's show page, with what ``show_extra`` adds for the template."""
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)
        # held until the page is rendered: the tabs' rows name their card, and while the record is
        # referenced the session answers them from its identity map instead of a query a row
        item = g.pop("shown_item")
        self.name_the_card(item)
        return self.render_template(
            self.show_template, pk=pk, title=self.page_title(self.show_title), widgets=widgets,
            related_views=self._related_views, **self.show_extra(pk, item),
        )

    def show_extra(self, pk, item) -> dict:
        """More values for the show template (a card's record of changes); ``item`` is the record shown."""
        return {}

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        """FAB's add page; a refused form answers 422 (409 for a conflict), not 200."""
        return _refused_form_status(super().add())

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        """FAB's edit page; a refused form answers 422 (409 for a conflict), not 200."""
        return _refused_form_status(super().edit(pk))

    def card_of(self, item) -> int | None:
        """The client card a record belongs to (None when it is not a card's row)."""
        return None

    def page_title(self, title) -> str:
        """A card's own page is titled by its name ("Karta klienta: Jan Kowalski"); other pages as they are."""
        card = g.get("card")
        return f"{title}: {card['name']}" if card and card["own"] and card["name"] else title

    def name_the_card(self, item=None, card_id: int | None = None) -> None:
        """Name the card a page belongs to above it (``g.card``): the card itself, or a row's card."""
        from crm.clients.models import Client
        from crm.clients.service import card_name

        if item is not None:
            # a card's row, or a record about a client that is not one of its rows (a request, a consent)
            card_id = self.card_of(item) or getattr(item, "client_id", None)
        if card_id is None:
            return
        client = self.datamodel.session.get(Client, card_id)
        if client is not None:
            g.card = {"id": client.id, "name": card_name(client), "own": item is not None and item is client}

    def _edit(self, pk):
        if request.method != "POST":
            item = self.datamodel.get(pk, self._base_filters)
            if item is not None:
                reads.note_item("edit", item)
                self.name_the_card(item)
            if item is not None and self.card_of(item) is not None:
                from crm.gdpr.service import RESTRICTED_MESSAGE, active_restriction

                if active_restriction(self.datamodel.session, self.card_of(item)) is not None:
                    # said before the person types, not only when the save is refused
                    flash(str(RESTRICTED_MESSAGE), "warning")
            return super()._edit(pk)
        # Flask-AppBuilder's POST branch, with the version check and a conflict
        # message in place of its generic "Database Error".
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        self.name_the_card(item)
        pk = self.datamodel.get_pk_value(item)
        form = self._without_masked_fields(self.edit_form).refresh(request.form)
        self._fill_form_exclude_cols(exclude_cols, form)
        form._id = pk
        if not is_current(item, parse_lock_version(form.lock_version.data)):
            g.refused_form_status = 409
            flash(str(CONFLICT_MESSAGE), "danger")
            return self._edit_widgets(item, form, exclude_cols)
        if not form.validate():
            return self._edit_widgets(item, form, exclude_cols)
        self.process_form(form, False)
        try:
            form.populate_obj(item)
            self.pre_update(item)
        except ValueError as error:
            self._refused(error)
            return self._edit_widgets(item, form, exclude_cols)
        # before the commit, which expires the record (reading its key afterwards loads it again)
        saved_url = self.saved_record_url(item)
        try:
            self.datamodel.edit(item)
        except DatabaseException as error:
            raise_if_unavailable(error)
            if not _is_conflict(error):
                flash(str(SAVE_FAILED_MESSAGE), "danger")
                return None
            # Another save won the race the check above cannot see (another worker
            # or server between our read and our write): the same answer as a stale form.
            g.refused_form_status = 409
            flash(str(CONFLICT_MESSAGE), "danger")
            return self._edit_widgets(self.datamodel.get(pk, self._base_filters), form, exclude_cols)
        self.post_update(item)
        flash(str(self.edit_row_message), "success")
        g.saved_record_url = saved_url
        return None

    def saved_record_url(self, item) -> str:
        """Where a save leads: a card's row back to its card, any other record to its own page.

        FAB goes back through the session's page history, which the person's
        other tabs also write (a client saved, and the staff list opened).
        """
        if self.add_from_parent:
            parent = getattr(item, f"{self.add_from_parent}_id", None)
            if parent is not None:
                return url_for("ClientModelView.show", pk=parent)
        # the session's key: known without reading the row, which a commit has expired
        identity = sqlalchemy_inspect(item).identity
        return url_for(f"{self.endpoint}.show", pk=identity[0] if identity else self.datamodel.get_pk_value(item))

    def post_add_redirect(self):
        url = g.pop("saved_record_url", None)
        return redirect(url or self.get_redirect())

    post_edit_redirect = post_add_redirect

    def masked_form_columns(self) -> list[str]:
        """Form fields of personal data the current user sees masked: left out of the forms they get.

        The form would show the value in clear; leaving the field out also keeps
        its stored value, as a save changes only the fields of its form.
        """
        model = self.datamodel.obj
        return [column for column in {*self.add_columns, *self.edit_columns} if hidden_mask(model, column) is not None]

    def _without_masked_fields(self, form_class):
        """The form class without the fields the current user sees masked (the posted form is this one)."""
        masked = tuple(sorted(self.masked_form_columns()))
        if not masked:
            return form_class
        key = (form_class, masked)
        if key not in _MASKED_FORMS:
            if len(_MASKED_FORMS) > 200:
                _MASKED_FORMS.clear()
            _MASKED_FORMS[key] = type(form_class.__name__, (form_class,), dict.fromkeys(masked))
        return _MASKED_FORMS[key]

    #: confirmation ticks of the form, shown only when a refused save asks for one (or it is ticked)
    confirmation_columns: tuple[str, ...] = ()

    def _unasked_confirmations(self, form) -> set[str]:
        asked = g.get("asked_confirmation")
        return {
            column for column in self.confirmation_columns
            if column != asked and not (column in form and form[column].data)
        }

    def describe_refusal(self, error) -> dict:
        """More for the form page of a refused save (``g.refusal``): nothing by default."""
        return {}

    def _refused(self, error) -> None:
        """A save refused by a rule (a ValueError): its message, and what the form needs to ask for."""
        self.datamodel.session.rollback()
        flash(str(error), "danger")
        g.refused_form_status = getattr(error, "status", 422)
        g.asked_confirmation = getattr(error, "confirmation", None)
        g.refusal = self.describe_refusal(error)

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        widgets = widgets or {}
        masked = set(self.masked_form_columns()) | self._unasked_confirmations(form)
        widgets["add"] = self.add_widget(
            form=form, include_cols=[c for c in self.add_columns if c not in masked],
            exclude_cols=exclude_cols or [], fieldsets=self.add_fieldsets,
        )
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        widgets = widgets or {}
        masked = set(self.masked_form_columns()) | self._unasked_confirmations(form)
        widgets["edit"] = self.edit_widget(
            form=form, include_cols=[c for c in self.edit_columns if c not in masked],
            exclude_cols=exclude_cols or [], fieldsets=self.edit_fieldsets,
        )
        return widgets

    def _edit_widgets(self, item, form, exclude_cols):
        reads.note_item("edit", item)
        widgets = self._get_edit_widget(form=form, exclude_cols=exclude_cols)
        return self._get_related_views_widgets(
            item,
            filters={},
            orders=get_order_args(),
            pages=get_page_args(),
            page_sizes=get_page_size_args(),
            widgets=widgets,
        )

    def _delete(self, pk):
        """FAB's delete, with a refusal's own message and a database conflict's message (never its SQL)."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            abort(404)
        try:
            self.pre_delete(item)
        except ValueError as error:
            self.datamodel.session.rollback()
            flash(str(error), "danger")
            return
        try:
            self.datamodel.delete(item)
        except DatabaseException as error:
            raise_if_unavailable(error)
            flash(str(DELETE_FAILED_MESSAGE), "danger")
            return
        self.post_delete(item)
        flash(str(self.delete_row_message), "success")
        g.deleted_record = str(pk)

    def post_delete_redirect(self):
        """Back where the deletion started (a list, a card's tab); from the deleted record's own page, to the list."""
        list_url = url_for(f"{self.endpoint}.list")
        deleted = g.pop("deleted_record", None)
        origin = started_on()
        if origin is None or (deleted is not None and re.search(rf"/(show|edit)/{re.escape(deleted)}(\?|$)", origin)):
            return redirect(list_url)
        return redirect(origin)

    def _add(self):
        if self.add_from_parent and f"_flt_0_{self.add_from_parent}" not in request.args:
            flash(str(ADD_FROM_PARENT_MESSAGE), "info")
            return None
        parent = request.args.get(f"_flt_0_{self.add_from_parent}") if self.add_from_parent else None
        if parent is not None and parent.isdigit():
            from crm.clients.models import Client

            reads.note("edit", [int(parent)], reads.masks_for_reader(Client))
            self.name_the_card(card_id=int(parent))
        if request.method != "POST":
            return super()._add()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self._without_masked_fields(self.add_form).refresh()
        self._fill_form_exclude_cols(exclude_cols, form)
        if not form.validate():
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        self.process_form(form, True)
        item = self.datamodel.obj()
        try:
            form.populate_obj(item)
            self.pre_add(item)
        except ValueError as error:
            self._refused(error)
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        try:
            self.datamodel.add(item)
        except DatabaseException as error:
            raise_if_unavailable(error)
            flash(str(SAVE_FAILED_MESSAGE), "danger")
            return self._get_add_widget(form=form, exclude_cols=exclude_cols)
        self.post_add(item)
        flash(str(self.add_row_message), "success")
        g.saved_record_url = self.saved_record_url(item)
        return None


class CardRowView(VersionedModelView):
    """A row of a client card: not added or changed while the card is restricted (Art. 18)."""

    def pre_add(self, item):
        self.check_card(item)

    def pre_update(self, item):
        self.check_card(item)

    def pre_delete(self, item):
        self.check_card(item)

    def card_of(self, item) -> int | None:
        return item.client_id

    def check_card(self, item) -> None:
        """Raise ValueError (shown on the form) when the card may not change."""
        from crm.gdpr.service import ensure_not_restricted

        client = getattr(item, "client", None)
        ensure_not_restricted(self.datamodel.session, client.id if client is not None else item.client_id)


UNKNOWN_RECORD_MESSAGE = _l("There is no such record.")
#: times in the API: UTC, to the second, with the zone (RFC 3339)
UTC_DATETIME = "%Y-%m-%dT%H:%M:%SZ"


def must_exist(value) -> None:
    """Marshmallow validator: a related record must already be in the database.

    marshmallow-sqlalchemy builds a new related object for an id it cannot find
    (even from a dict of its columns); saving it would create, say, a staff user.
    """
    if value is not None and not sqlalchemy_inspect(value).persistent:
        raise ValidationError(str(UNKNOWN_RECORD_MESSAGE))


class UtcDateTime(fields.DateTime):
    """A stored (naive UTC) time written as RFC 3339 with its zone, to the second, as the document's date-time says."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value.strftime(UTC_DATETIME) if value is not None else None


class RulesSchemaConverter(Model2SchemaConverter):
    """Builds API schemas that apply pure validation rules and refuse unknown related ids."""

    def __init__(self, datamodel, validators_columns, rules: Rules | None = None):
        super().__init__(datamodel, validators_columns)
        self.rules = rules

    def _column2field(self, datamodel, column, nested=True, parent_schema_name=None):
        field = super()._column2field(datamodel, column, nested=nested, parent_schema_name=parent_schema_name)
        sqla_column = datamodel.list_columns.get(column.name)
        if sqla_column is not None and isinstance(sqla_column.type, DateTime):
            return UtcDateTime(dump_only=True)
        return field

    def _column2relation(self, datamodel, column, nested=False, parent_schema_name=None):
        field = super()._column2relation(datamodel, column, nested=nested, parent_schema_name=parent_schema_name)
        if not nested:
            field.validators.append(must_exist)
        return field

    def _meta_schema_factory(self, columns, model, class_mixin, parent_schema_name=None):
        if self.rules is not None:
            class_mixin = type(
                "RulesSchemaMixin", (schema_rules_mixin(self.rules), class_mixin), {}
            )
        return super()._meta_schema_factory(
            columns, model, class_mixin, parent_schema_name=parent_schema_name
        )


class VersionedModelRestApi(RequestFilters, AnswersUnavailable, ModelRestApi):
    """A ModelRestApi with optimistic locking and validation rules.

    PUT must carry the ``lock_version`` the client read; a stale one answers
    409 and changes nothing.
    """

    #: Pure rules (field -> message) applied to POST and PUT bodies.
    validation_rules: Rules | None = None
    #: Pure function giving the body as it is to be validated (e.g. compact identifiers).
    prepare_payload = staticmethod(dict)
    allow_browser_login = False

    def __init__(self):
        rules = type(self).validation_rules
        self.model2schemaconverter = lambda datamodel, validators: RulesSchemaConverter(
            datamodel, validators, rules
        )
        super().__init__()
        self.order_columns = sortable(self.datamodel, self.order_columns)

    def _get_field_info(self, field, filter_rel_field, page=None, page_size=None):
        """FAB's field info, without the catalog's header as the label or description of an undescribed field.

        FAB translates a missing label or description as ``gettext("")``, which
        is the header of the translation catalog.
        """
        info = super()._get_field_info(field, filter_rel_field, page=page, page_size=page_size)
        for key, texts in (("label", self.label_columns), ("description", self.description_columns)):
            info[key] = str(texts[field.name]) if texts.get(field.name) else ""
        return info

    def info_headless(self, **kwargs):
        """FAB's ``_info`` for a ``q`` that fits its schema, told only what the caller may use.

        Filters only of columns the caller may search; the add and edit forms'
        fields (with every choice of their relations, staff accounts included)
        only for callers who may add or edit. FAB binds its merge functions
        when it decorates ``info``, so they are trimmed here, after the fact.
        """
        refused = self._query_refused("info", kwargs.get("rison"))
        if refused is not None:
            return refused
        payload = {}
        rison_args = kwargs.get("rison", {})
        self.set_response_key_mappings(payload, self.info, rison_args, **rison_args)
        model = self.datamodel.obj
        if API_FILTERS_RES_KEY in payload:
            payload[API_FILTERS_RES_KEY] = {
                column: filters for column, filters in payload[API_FILTERS_RES_KEY].items() if can_search(model, column)
            }
        has_access = self.appbuilder.sm.has_access
        if API_ADD_COLUMNS_RES_KEY in payload and not has_access("can_post", self.class_permission_name):
            payload[API_ADD_COLUMNS_RES_KEY] = []
        if API_EDIT_COLUMNS_RES_KEY in payload and not has_access("can_put", self.class_permission_name):
            payload[API_EDIT_COLUMNS_RES_KEY] = []
        return self.response(200, **payload)

    def _filter_schema(self) -> dict:
        """One filter of the list's ``q``: a column the caller may search, one of its operators, a value."""
        model = self.datamodel.obj
        choices = []
        for column, filters in self._filters.get_search_filters().items():
            if column not in self.search_columns or not can_search(model, column):
                continue
            operators = [flt.arg_name for flt in filters]
            text = {"type": "string", "maxLength": MAX_SEARCH_TERM, "pattern": NO_NUL}
            if set(operators) <= {"rel_o_m", "nrel_o_m"}:
                # a related record, by its id
                value = {"type": "integer", "minimum": 1, "maximum": MAX_DATABASE_INTEGER}
            else:
                value = {"anyOf": [text, {"type": "array", "items": text, "maxItems": 50}]} if {"in", "not_in"} & set(operators) else text
            choices.append({
                "type": "object", "additionalProperties": False, "required": ["col", "opr", "value"],
                "properties": {"col": {"type": "string", "enum": [column]}, "opr": {"type": "string", "enum": operators}, "value": value},
            })
        return {"oneOf": choices} if choices else {"not": {}}

    def query_schemas(self) -> dict[str, dict]:
        """The ``q`` argument of the list, the record and ``_info``, exactly as this API takes it (for this caller).

        FAB accepts any object there and answers 400 (or nothing) to what it
        cannot use; these schemas are both the document's and the check.
        """
        def columns(names):
            return {"type": "array", "items": {"type": "string", "enum": list(names)}, "uniqueItems": True}

        def keys(names):
            return {"type": "array", "items": {"type": "string", "enum": [*names, "none"]}}

        paging = {API_PAGE_INDEX_RIS_KEY: {"type": "integer", "minimum": 0, "maximum": MAX_PAGE},
                  API_PAGE_SIZE_RIS_KEY: {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}}
        related = [column for column in {*self.add_columns, *self.edit_columns} if self.datamodel.is_relation(column)]
        form_pages = {"type": "object", "additionalProperties": False, "properties": {
            column: {"type": "object", "additionalProperties": False, "properties": paging} for column in related
        }}
        return {
            "list": {"type": "object", "additionalProperties": False, "not": {"required": ["columns", "select_columns"]},
                     "description": "columns and select_columns are two names of one choice: send one of them",
                     "properties": {
                "keys": keys(["list_columns", "order_columns", "label_columns", "description_columns", "list_title"]),
                "columns": columns(self.list_columns),
                "select_columns": columns(self.list_columns),
                "order_column": {"type": "string", "enum": list(self.order_columns)},
                "order_direction": {"type": "string", "enum": ["asc", "desc"]},
                **paging,
                "filters": {"type": "array", "maxItems": 20, "items": self._filter_schema()},
            }},
            "record": {"type": "object", "additionalProperties": False, "properties": {
                "keys": keys(["show_columns", "description_columns", "label_columns", "show_title"]),
                "columns": columns(self.show_columns),
            }},
            "info": {"type": "object", "additionalProperties": False, "properties": {
                "keys": keys(["add_columns", "edit_columns", "filters", "permissions", "add_title", "edit_title"]),
                "add_columns": form_pages,
                "edit_columns": form_pages,
            }},
        }

    def _query_refused(self, kind: str, arguments):
        """A 400 answer when ``q`` does not fit its schema (naming where), else None."""
        errors = sorted(Draft4Validator(self.query_schemas()[kind]).iter_errors(arguments or {}), key=lambda e: list(e.path))
        if not errors:
            return None
        where = "/".join(str(part) for part in errors[0].absolute_path) or "q"
        return self.response_400(message=gettext("The argument q does not fit the API documentation at: %(where)s", where=where))

    def get_headless(self, pk, **kwargs):
        return self._query_refused("record", kwargs.get("rison")) or super().get_headless(pk, **kwargs)

    def api_paths(self, document: dict) -> dict:
        """This API's operations in an OpenAPI document, by path."""
        prefix = f"/api/{self.version}/{self.resource_name}/"
        return {path: operations for path, operations in document.get("paths", {}).items() if path.startswith(prefix)}

    def conform_openapi(self, document: dict) -> None:
        """Make FAB's description of this API say what it answers.

        Ids are numbers (FAB says text); ``_info``'s form fields are lists (FAB
        says objects); the query argument's pages and sizes have their ranges.
        """
        paths = self.api_paths(document)
        base = f"/api/{self.version}/{self.resource_name}/"
        listing = paths.get(base, {}).get("get")
        if listing is not None:
            schema = listing["responses"]["200"]["content"]["application/json"]["schema"]
            schema["properties"]["ids"]["items"] = {"type": "integer"}
        record = paths.get(base + "{pk}", {}).get("get")
        if record is not None:
            schema = record["responses"]["200"]["content"]["application/json"]["schema"]
            schema["properties"]["id"] = {"type": "integer", "description": "The record's id"}
        schemas = document.get("components", {}).get("schemas", {})
        for name, schema in schemas.items():
            if name.startswith((f"{type(self).__name__}.get.", f"{type(self).__name__}.get_list.")) or name in (
                f"{type(self).__name__}.get", f"{type(self).__name__}.get_list",
            ):
                # the caller chooses the columns (q's columns): none of them is always there
                schema.pop("required", None)
        info = paths.get(base + "_info", {}).get("get")
        if info is not None:
            properties = info["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
            for key in (API_ADD_COLUMNS_RES_KEY, API_EDIT_COLUMNS_RES_KEY):
                properties[key] = {"type": "array", "items": {"type": "object"},
                                   "description": "The form's fields, for a caller who may add or edit (else empty)"}
        name = type(self).__name__
        for path, method, kind in ((base, "get", "list"), (base + "{pk}", "get", "record"), (base + "_info", "get", "info")):
            operation = paths.get(path, {}).get(method)
            if operation is None:
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "q":
                    parameter["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{name}.q.{kind}"}
        searching = paths.get(base + "_search", {}).get("post")
        if searching is not None:
            searching["requestBody"]["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{name}.q.list"}
        for kind, schema in self.query_schemas().items():
            document["components"]["schemas"][f"{name}.q.{kind}"] = schema

    def get_list_headless(self, **kwargs):
        """FAB's list, refusing (403) a filter on a column the caller sees masked, and (400) a ``q`` off its schema."""
        arguments = kwargs.get("rison", {})
        filters = arguments.get("filters") if isinstance(arguments, dict) else None
        model = self.datamodel.obj
        if isinstance(filters, list) and any(
            isinstance(item, dict) and not can_search(model, str(item.get("col", ""))) for item in filters
        ):
            return self.response(403, message=str(SEARCH_NOT_ALLOWED_MESSAGE))
        return self._query_refused("list", arguments) or super().get_list_headless(**kwargs)

    @expose("/_search", methods=["POST"])
    @protect()
    @safe
    @permission_name("get")
    def search(self):
        """The list, with its argument in the body: no personal value needs to be put in an address.
        ---
        post:
          description: >-
            The same answer as GET with the argument q, which is sent here as the JSON body
            (filters, order, page, page size, columns), so that searched values stay out of
            addresses and logs.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  $ref: '#/components/schemas/get_list_schema'
          responses:
            200:
              description: Items found
              content:
                application/json:
                  schema:
                    type: object
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
            500:
              $ref: '#/components/responses/500'
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        return self.get_list_headless(rison=body)

    def pre_get(self, data):
        data[API_RESULT_RES_KEY] = mask_record(self.datamodel.obj, data[API_RESULT_RES_KEY])
        reads.note_rows("api", self.datamodel.session, self.datamodel.obj, [data.get("id")])

    def pre_get_list(self, data):
        data[API_RESULT_RES_KEY] = [mask_record(self.datamodel.obj, row) for row in data[API_RESULT_RES_KEY]]
        reads.note_rows("api", self.datamodel.session, self.datamodel.obj, data.get("ids", ()))

    def _result(self, schema, item) -> dict:
        return mask_record(self.datamodel.obj, schema.dump(item, many=False))

    def _masked_fields_in(self, body: dict) -> list[str]:
        """Fields of the body the caller sees masked (and so may not write either)."""
        model = self.datamodel.obj
        return sorted(name for name in body if hidden_mask(model, name) is not None)

    def post_headless(self):
        if not request.is_json or not isinstance(request.json, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        if self._masked_fields_in(request.json):
            return self.response(403, message=str(MASKED_WRITE_MESSAGE))
        try:
            item = self.add_model_schema.load(self.prepare_payload(request.json))
        except ValidationError as err:
            return self.response_422(message=translated_errors(err.messages))
        try:
            self.pre_add(item)
        except ValueError as error:
            self.datamodel.session.rollback()
            return self.response(
                getattr(error, "status", 422),
                message=getattr(error, "api_message", str(error)),
                **getattr(error, "api_extra", {}),
            )
        try:
            self.datamodel.add(item)
        except (DatabaseException, SQLAlchemyError) as error:
            raise_if_unavailable(error)
            return self.response_422(message=str(SAVE_FAILED_MESSAGE))
        self.post_add(item)
        return self.response(
            201,
            **{
                API_RESULT_RES_KEY: self._result(self.add_model_schema, item),
                "id": self.datamodel.get_pk_value(item),
            },
        )

    # FAB mounts PUT and DELETE on "/<pk>" and GET on "/<int:pk>": "/_info" and "/abc" then match a
    # PUT route and answer 404 instead of 405. All three take whole numbers only.
    @expose("/<int:pk>", methods=["PUT"])
    @protect()
    @safe
    @permission_name("put")
    def put(self, pk):
        return self.put_headless(pk)

    @expose("/<int:pk>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("delete")
    def delete(self, pk):
        return self.delete_headless(pk)

    put.__doc__ = ModelRestApi.put.__doc__
    delete.__doc__ = ModelRestApi.delete.__doc__

    def delete_headless(self, pk: ModelKeyType):
        """FAB's delete, answering a refusal or a database conflict with a message, never the SQL."""
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        try:
            self.pre_delete(item)
        except ValueError as error:
            self.datamodel.session.rollback()
            return self.response(getattr(error, "status", 422), message=str(error))
        try:
            self.datamodel.delete(item)
        except DatabaseException as error:
            raise_if_unavailable(error)
            return self.response_422(message=str(DELETE_FAILED_MESSAGE))
        self.post_delete(item)
        return self.response(200, message="OK")

    def put_headless(self, pk: ModelKeyType):
        item = self.datamodel.get(pk, self._base_filters)
        if not item:
            return self.response_404()
        if not request.is_json or not isinstance(request.json, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        if self._masked_fields_in(request.json):
            return self.response(403, message=str(MASKED_WRITE_MESSAGE))
        data = self.prepare_payload(request.json)
        submitted = parse_lock_version(data.pop("lock_version", None))
        if submitted is None:
            return self.response_422(message={"lock_version": [str(MISSING_LOCK_MESSAGE)]})
        if not is_current(item, submitted):
            return self.response(409, message=str(CONFLICT_MESSAGE))
        try:
            data = self._merge_update_item(item, data)
            item = self.edit_model_schema.load(data, instance=item)
        except ValidationError as err:
            self.datamodel.session.rollback()
            return self.response_422(message=translated_errors(err.messages))
        try:
            self.pre_update(item)
        except ValueError as error:
            self.datamodel.session.rollback()
            return self.response(
                getattr(error, "status", 422),
                message=getattr(error, "api_message", str(error)),
                **getattr(error, "api_extra", {}),
            )
        try:
            self.datamodel.edit(item)
        except DatabaseException as error:
            raise_if_unavailable(error)
            if _is_conflict(error):
                return self.response(409, message=str(CONFLICT_MESSAGE))
            return self.response_422(message=str(SAVE_FAILED_MESSAGE))
        self.post_update(item)
        return self.response(
            200, **{API_RESULT_RES_KEY: self._result(self.edit_model_schema, item)}
        )
