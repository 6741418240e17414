"""Bridges from the pure validation rules to WTForms and marshmallow."""

from __future__ import annotations

from datetime import date
from typing import Callable, Iterable, Mapping

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from marshmallow import ValidationError as SchemaValidationError
from marshmallow import validates_schema
from wtforms import DateField, SelectMultipleField, StringField, TextAreaField
from wtforms.widgets import CheckboxInput, ListWidget, html_params
from wtforms.validators import DataRequired, Length, Optional, StopValidation, ValidationError

from crm.attributes.kinds import DATE_FORMATS, DATE_MESSAGE
from crm.timeutil import from_office_time, shown_time

Rules = Callable[[Mapping], Mapping[str, str]]


class RuleValidator:
    """A WTForms validator raising the message ``rules`` gives for this field.

    The rules see the whole form, so cross-field rules (a company needs its
    name, only a person has a PESEL) report on the right field.
    """

    def __init__(self, rules: Rules):
        self.rules = rules

    def __call__(self, form, field):
        message = self.errors_of(form).get(field.name)
        if message:
            raise ValidationError(str(message))

    def errors_of(self, form) -> Mapping[str, str]:
        """The rules' verdict on the whole form, worked out once per validation, not once per field."""
        cache = form.__dict__.setdefault("_rule_errors", {})
        if id(self) not in cache:
            cache[id(self)] = self.rules(form.data)
        return cache[id(self)]


class KeepRuleErrors(Optional):
    """WTForms' Optional, without erasing the errors a rule found before it.

    Optional clears a blank field's errors: a cross-field rule ("a company needs
    its name") that refused the blank value would be silenced.
    """

    def __call__(self, form, field):
        if not field.raw_data or isinstance(field.raw_data[0], str) and not self.string_check(field.raw_data[0]):
            raise StopValidation()


def keep_rule_errors(form_class) -> None:
    """In the fields that carry a RuleValidator, let the rule's refusal of a blank value stand."""
    for field in vars(form_class).values():
        validators = getattr(field, "kwargs", {}).get("validators") or []
        if any(isinstance(validator, RuleValidator) for validator in validators):
            validators[:] = [KeepRuleErrors() if type(v) is Optional else v for v in validators]


class ValidatorsColumns(dict):
    """A ``validators_columns`` mapping that hands out a copy of each list.

    FAB appends its own Length/Optional validators to the list it gets, once per
    form it builds (add and edit), so a shared list would carry them twice and
    show every length message twice.
    """

    def get(self, key, default=None):
        value = super().get(key, default)
        return list(value) if isinstance(value, list) else value


def rule_validators(rules: Rules, fields: Iterable[str]) -> ValidatorsColumns:
    """``validators_columns`` for a FAB ModelView: one RuleValidator per field."""
    validator = RuleValidator(rules)
    return ValidatorsColumns({field: [validator] for field in fields})


def schema_rules_mixin(rules: Rules) -> type:
    """A marshmallow mixin that applies ``rules`` to the loaded data as a whole."""

    class RulesMixin:
        @validates_schema
        def _apply_rules(self, data, **kwargs):
            errors = rules(data)
            if errors:
                raise SchemaValidationError(
                    {field: [str(message)] for field, message in errors.items()}
                )

    return RulesMixin



class LocalDatePickerWidget:
    """A date picker (crm/static/crm/date_picker.js) holding the date as the reader's language writes it.

    FAB's own widget prints the raw value (ISO) and starts its picker in English
    on Sunday, rewriting a pasted date it cannot read.
    """

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        kwargs.setdefault("name", field.name)
        attributes = html_params(type="text", value=field._value(), autocomplete="off", **kwargs)
        return Markup(
            '<div class="input-group date crm-date">'
            '<span class="input-group-addon"><i class="fa fa-calendar cursor-hand"></i></span>'
            f'<input class="form-control" {attributes} /></div>'
        )


class LocalDateField(DateField):
    """A date typed, pasted or picked as the reader's language writes it (the picker speaks it too)."""

    widget = LocalDatePickerWidget()

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=list(DATE_FORMATS), **kwargs)

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return shown_time(self.data) if self.data else ""

    def process_formdata(self, valuelist):
        if valuelist and not " ".join(valuelist).strip():
            self.data = None  # blank: left to DataRequired or Optional
            return
        try:
            super().process_formdata([value.strip() for value in valuelist])
        except ValueError:
            raise ValueError(str(DATE_MESSAGE)) from None

    def pre_validate(self, form):
        if self.process_errors:
            # a date it cannot read is explained as such, not as "required" by DataRequired
            raise StopValidation()


class LocalDateText(StringField):
    """An attribute's date, stored as ISO text, shown in the field as the reader's language writes it."""

    widget = LocalDatePickerWidget()

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        try:
            return shown_time(date.fromisoformat(self.data))
        except (TypeError, ValueError):
            return self.data or ""


NOT_ON_THE_LIST = _l("A ticked value is not one of those offered.")


class KeysField(SelectMultipleField):
    """Several keys of a closed vocabulary as ticks, stored in one column as ``key,key``."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __iter__(self):
        # required means "tick at least one": on every box, the browser would insist on ticking them all
        for option in super().__iter__():
            option.flags.required = False
            yield option

    def pre_validate(self, form):
        # wtforms' own message quotes the value and is not translated into Polish
        allowed = {key for key, _label in self.choices}
        if any(key not in allowed for key in self.data or ()):
            raise ValidationError(str(NOT_ON_THE_LIST))

    def process_data(self, value):
        if isinstance(value, str):
            value = [key for key in value.split(",") if key]
        super().process_data(value)

    def populate_obj(self, obj, name):
        setattr(obj, name, ",".join(self.data or ()))


BAD_TIME_MESSAGE = _l("Give the date and time, e.g. 01.12.2026 14:30.")


class OfficeDateTimeField(StringField):
    """A moment typed as the office's wall-clock time ("01.12.2026 14:30", or ISO), stored as naive UTC."""

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return shown_time(self.data) if self.data else ""

    def process_formdata(self, valuelist):
        text = " ".join(valuelist).strip() if valuelist else ""
        if not text:
            self.data = None
            return
        self.data = from_office_time(text)
        if self.data is None:
            raise ValueError(str(BAD_TIME_MESSAGE))

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()


#: the longest text of a record's description field (a register entry, a breach)
MAX_TEXT = 4000


def text_field(label, required: bool = True, default=None) -> TextAreaField:
    """A description of up to MAX_TEXT characters, required or not."""
    return TextAreaField(
        label, default=default, validators=[DataRequired() if required else Optional(), Length(max=MAX_TEXT)],
    )
