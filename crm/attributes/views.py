"""Screens of attributes: their definitions, the built-in fields a company hides, and the card's layout."""

from __future__ import annotations

from flask import abort, flash, g, has_request_context, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access, permission_name
from flask_appbuilder.fieldwidgets import (
    BS3TextAreaFieldWidget,
    BS3TextFieldWidget,
    Select2ManyWidget,
    Select2Widget,
)
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import Optional, ValidationError

from crm.attributes import service
from crm.attributes.kinds import KIND_LABELS, Spec, parse, to_python
from crm.attributes.models import AttributeDefinition
from crm.clients.choices import label_of
from crm.clients.labels import CLIENT_LABELS
from crm.extensions import db
from crm.forms import LocalDateText
from crm.i18n import in_english
from crm.modelviews import VersionedModelView
from crm.privacy.filters import PrivacyAwareInterface
from crm.privacy.categories import FREE_TEXT
from crm.privacy.masking import can_see, mask_free_text

DEFINITION_LABELS = {
    "key": _l("Key"),
    "label_pl": _l("Label in Polish"),
    "label_en": _l("Label in English"),
    "kind": _l("Type"),
    "required": _l("Required"),
    "personal": _l("Personal data"),
    "in_list": _l("Shown in the list"),
    "filterable": _l("Filterable"),
    "position": _l("Order on the card"),
    "active": _l("Active (untick to archive)"),
    "choices": _l("Choices (one a line)"),
}
DELETE_WITH_VALUES_MESSAGE = _l(
    "%(count)d cards hold a value of this attribute. Deleting it deletes those values too (history keeps "
    "them); archive it instead to keep them. Confirm below to delete."
)


class AttributeValidator:
    """A form validator applying the attribute kind's own rules (crm.attributes.kinds)."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.field_flags = {"required": True} if spec.required and spec.kind != "boolean" else {}

    def __call__(self, form, field):
        _stored, message = parse(self.spec, field.data)
        if message:
            raise ValidationError(message)


def attribute_field(definition: AttributeDefinition, spec: Spec):
    """The unbound form field of an attribute, validated by its kind (``spec``: its rules now)."""
    validators = [AttributeValidator(spec)] + ([] if spec.required else [Optional()])
    label = definition.label
    if spec.kind == "long_text":
        return TextAreaField(label, validators=validators, widget=BS3TextAreaFieldWidget())
    if spec.kind == "boolean":
        return BooleanField(label, validators=[AttributeValidator(spec)])
    if spec.kind == "choice":
        return SelectField(label, choices=[("", "—")] + [(c, c) for c in spec.choices], validators=validators,
                           widget=Select2Widget())
    if spec.kind == "multi_choice":
        return SelectMultipleField(label, choices=[(c, c) for c in spec.choices], validators=validators,
                                   widget=Select2ManyWidget())
    if spec.kind == "date":
        return LocalDateText(label, validators=validators)
    return StringField(label, validators=validators, widget=BS3TextFieldWidget())


_FORMS: dict = {}


def _card_of_request() -> int | None:
    """The card a request edits or shows (``/edit/<pk>``, ``/show/<pk>``, the API's ``/<pk>``), if any."""
    pk = (request.view_args or {}).get("pk")
    return int(pk) if pk is not None and str(pk).isdigit() else None


class CardLayout:
    """Client screens with the company's active attributes, without the built-in fields it hides.

    Forms, columns, labels and formatters are worked out per request from the
    definitions, so a new attribute appears at once, without a restart.
    """

    _LAYOUT = ("add_columns", "edit_columns", "list_columns", "show_columns", "show_fieldsets", "label_columns",
               "formatters_columns", "add_form", "edit_form")

    def __init_subclass__(cls, **kwargs):
        # A view's own class attributes (list_columns = [...]) would hide the
        # properties below: keep them as the bases the properties start from.
        super().__init_subclass__(**kwargs)
        for name in cls._LAYOUT:
            if name in cls.__dict__ and not isinstance(cls.__dict__[name], property):
                setattr(cls, f"_class_base_{name}", cls.__dict__[name])
                delattr(cls, name)

    def _layout(self):
        if not has_request_context():
            return None
        if "card_layout" not in g:
            session = self.datamodel.session
            definitions = service.active_definitions(session)
            g.card_layout = (definitions, service.hidden_fields(session))
            g.card_rules = service.specs(session, definitions, _card_of_request())
        return g.card_layout

    def _base(self, name):
        return self.__dict__.get(f"_base_{name}", getattr(type(self), f"_class_base_{name}", None))

    def _columns(self, name, only=lambda definition: True):
        base = self._base(name)
        layout = self._layout()
        if layout is None or base is None:
            return base
        definitions, hidden = layout
        return [c for c in base if c not in hidden] + [d.field_name for d in definitions if only(d)]

    def _form(self, name):
        base = self._base(name)
        layout = self._layout()
        if layout is None or base is None:
            return base
        definitions, hidden = layout
        rules = g.card_rules
        key = (name, id(base), tuple((d.id, d.lock_version, rules[d.id]) for d in definitions), hidden, str(get_locale()))
        if key not in _FORMS:
            fields = {d.field_name: attribute_field(d, rules[d.id]) for d in definitions}
            fields.update({field: None for field in hidden})
            if len(_FORMS) > 200:
                _FORMS.clear()
            _FORMS[key] = type(base.__name__, (base,), fields)
        return _FORMS[key]

    add_columns = property(lambda self: self._columns("add_columns"), lambda self, v: self.__dict__.update(_base_add_columns=v))
    edit_columns = property(lambda self: self._columns("edit_columns"), lambda self, v: self.__dict__.update(_base_edit_columns=v))
    list_columns = property(lambda self: self._columns("list_columns", lambda d: d.in_list),
                            lambda self, v: self.__dict__.update(_base_list_columns=v))
    show_columns = property(lambda self: self._columns("show_columns"), lambda self, v: self.__dict__.update(_base_show_columns=v))
    add_form = property(lambda self: self._form("add_form"), lambda self, v: self.__dict__.update(_base_add_form=v))
    edit_form = property(lambda self: self._form("edit_form"), lambda self, v: self.__dict__.update(_base_edit_form=v))

    @property
    def show_fieldsets(self):
        base = self._base("show_fieldsets")
        layout = self._layout()
        if layout is None or not base:
            return base
        definitions, hidden = layout
        fieldsets = [
            (title, {**options, "fields": [f for f in options["fields"] if f not in hidden]}) for title, options in base
        ]
        if definitions:
            fieldsets.insert(-1, (_l("Attributes"), {"fields": [d.field_name for d in definitions]}))
        return fieldsets

    @show_fieldsets.setter
    def show_fieldsets(self, value):
        self.__dict__["_base_show_fieldsets"] = value

    @property
    def label_columns(self):
        base = self._base("label_columns") or {}
        layout = self._layout()
        if layout is None:
            return base
        return {**base, **{d.field_name: d.label for d in layout[0]}}

    @label_columns.setter
    def label_columns(self, value):
        self.__dict__["_base_label_columns"] = value

    @property
    def formatters_columns(self):
        base = self._base("formatters_columns") or {}
        layout = self._layout()
        if layout is None:
            return base
        extra = {
            d.field_name: (lambda value: mask_free_text(value) or "") if d.personal else (lambda value: value or "")
            for d in layout[0]
        }
        return {**base, **extra}

    @formatters_columns.setter
    def formatters_columns(self, value):
        self.__dict__["_base_formatters_columns"] = value

    def _editable_definitions(self):
        """The attributes on the current user's form: personal ones only for those who see them in clear."""
        definitions, _hidden = self._layout()
        return [d for d in definitions if not d.personal or can_see(FREE_TEXT)]

    def masked_form_columns(self) -> list[str]:
        """The masked built-in fields, and the personal attributes of a user who sees them masked."""
        definitions, _hidden = self._layout()
        editable = set(self._editable_definitions())
        return [*super().masked_form_columns(), *(d.field_name for d in definitions if d not in editable)]

    def attribute_values_of(self, item) -> dict:
        """The form's attribute values, set on the record by populate_obj, by attribute key."""
        return {d.key: getattr(item, d.field_name, None) for d in self._editable_definitions()}

    def save_attributes(self, item) -> None:
        """Store the attribute values the form carried (raises AttributeErrors, a ValueError).

        The attributes left off the form (masked for this user) keep their values.
        """
        service.apply_values(item, self.attribute_values_of(item), self._editable_definitions(), rules=g.card_rules)

    def prefill_form(self, form, pk):
        item = self.datamodel.get(pk)
        stored = service.stored_values(item)
        definitions, _hidden = self._layout()
        for definition in definitions:
            form[definition.field_name].data = to_python(definition.spec, stored.get(definition.id))


class AttributeDefinitionModelView(VersionedModelView):
    """The attributes of the client card; archive rather than delete, and delete only when confirmed."""

    datamodel = PrivacyAwareInterface(AttributeDefinition)
    list_title = _l("Attributes of the client card")
    show_title = _l("Attribute")
    add_title = _l("Add an attribute")
    edit_title = _l("Edit an attribute")
    label_columns = DEFINITION_LABELS
    list_columns = ["position", "key", "label_pl", "label_en", "kind", "required", "personal", "in_list", "filterable", "active"]
    show_columns = ["key", "label_pl", "label_en", "kind", "required", "personal", "in_list", "filterable", "position", "active", "choices"]
    add_columns = show_columns
    edit_columns = show_columns
    search_columns = ["key", "kind", "active", "personal"]
    order_columns = ["position", "key", "kind"]
    base_order = ("position", "asc")
    formatters_columns = {"kind": lambda key: label_of(KIND_LABELS, key), "label_en": in_english}
    add_form_extra_fields = {
        "kind": SelectField(_l("Type"), choices=list(KIND_LABELS.items()), widget=Select2Widget()),
        "choices": TextAreaField(_l("Choices (one a line)"), widget=BS3TextAreaFieldWidget()),
        # unticked boxes are answers ("no"), not missing values
        **{name: BooleanField(DEFINITION_LABELS[name]) for name in ("required", "personal", "in_list", "filterable")},
        "active": BooleanField(DEFINITION_LABELS["active"], default=True),
        "position": IntegerField(DEFINITION_LABELS["position"], default=0, validators=[Optional()], widget=BS3TextFieldWidget()),
    }
    edit_form_extra_fields = dict(add_form_extra_fields)

    def pre_add(self, item):
        service.prepare_definition(db.session, item, None, None)

    def pre_delete(self, item):
        # through the ORM, so that the card histories record the values going
        service.delete_values(db.session, item)

    def pre_update(self, item):
        from sqlalchemy import inspect

        state = inspect(item)
        kind_before = state.attrs.kind.history.deleted[0] if state.attrs.kind.history.deleted else None
        personal = state.attrs.personal.history
        personal_before = personal.deleted[0] if personal.deleted else None
        service.prepare_definition(db.session, item, kind_before, personal_before)

    @expose("/delete/<pk>", methods=["POST"])
    @has_access
    def delete(self, pk):
        """Delete an attribute; with values on cards, only after a confirmation naming their number."""
        definition = self.datamodel.get(pk)
        if definition is None:
            abort(404)
        count = service.value_count(db.session, definition.id)
        if count and request.form.get("confirm_values") != str(count):
            return self.render_template(
                "attributes/confirm_delete.html", title=_l("Delete an attribute"), definition=definition, count=count,
                message=DELETE_WITH_VALUES_MESSAGE % {"count": count},
            ), 409
        return super().delete(pk)


class BuiltInFieldsView(BaseView):
    """Which built-in fields of the card the company collects (the system forces none on anyone)."""

    route_base = "/card-fields"
    default_view = "show"

    @expose("/", methods=["GET"])
    @has_access
    @permission_name("show")
    def show(self):
        return self.render_template(
            "attributes/fields.html", title=_l("Built-in fields of the client card"),
            fields=[(field, CLIENT_LABELS[field]) for field in service.HIDEABLE_FIELDS],
            hidden=service.hidden_fields(db.session),
        )

    @expose("/", methods=["POST"])
    @has_access
    @permission_name("edit")
    def save(self):
        service.set_hidden_fields(db.session, request.form.getlist("hidden"))
        flash(gettext("Saved: the card shows only the fields your company collects."), "success")
        return redirect(url_for(f"{self.endpoint}.show"))
