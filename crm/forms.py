"""Bridges from the pure validation rules to WTForms and marshmallow."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from marshmallow import ValidationError as SchemaValidationError
from marshmallow import validates_schema
from wtforms.validators import Optional, StopValidation, ValidationError

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
