"""Bridges from the pure validation rules to WTForms and marshmallow."""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from marshmallow import ValidationError as SchemaValidationError
from marshmallow import validates_schema
from wtforms.validators import ValidationError

Rules = Callable[[Mapping], Mapping[str, str]]


class RuleValidator:
    """A WTForms validator raising the message ``rules`` gives for this field.

    The rules see the whole form, so cross-field rules (a company needs its
    name, only a person has a PESEL) report on the right field.
    """

    def __init__(self, rules: Rules):
        self.rules = rules

    def __call__(self, form, field):
        message = self.rules(form.data).get(field.name)
        if message:
            raise ValidationError(str(message))


def rule_validators(rules: Rules, fields: Iterable[str]) -> dict[str, list]:
    """``validators_columns`` for a FAB ModelView: one RuleValidator per field."""
    validator = RuleValidator(rules)
    return {field: [validator] for field in fields}


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
