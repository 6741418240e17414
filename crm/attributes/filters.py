"""Finding cards by an attribute's value: ``key=value`` in the list's search and the API."""

from __future__ import annotations

from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, func, select

from crm.attributes.kinds import parse
from crm.attributes.service import secret_index
from crm.attributes.models import AttributeDefinition, AttributeValue
from crm.errors import refusal
from crm.privacy.categories import FREE_TEXT
from crm.privacy.filters import SEARCH_NOT_ALLOWED_MESSAGE, PrivacyAwareInterface, PrivacyFilterConverter
from crm.privacy.masking import can_see


class FilterAttribute(BaseFilter):
    """Cards whose filterable attribute equals a value, typed as ``key=value``."""

    name = _l("Equal to (key=value)")
    arg_name = "attribute"

    def apply(self, query, value):
        key, separator, wanted = str(value).partition("=")
        definition = self.datamodel.session.scalar(
            select(AttributeDefinition).where(
                AttributeDefinition.key == key.strip(), AttributeDefinition.filterable.is_(True),
                AttributeDefinition.active.is_(True),
            )
        )
        if not separator or definition is None:
            return query.filter(false())
        if definition.personal and not can_see(FREE_TEXT):
            raise refusal(403, SEARCH_NOT_ALLOWED_MESSAGE)
        stored, message = parse(definition.spec, wanted)
        if message or stored is None:
            return query.filter(false())
        match = (
            AttributeValue.secret_bidx == secret_index(definition, stored) if definition.personal
            else func.lower(AttributeValue.value) == stored.lower()
        )
        cards = select(AttributeValue.client_id).where(AttributeValue.definition_id == definition.id, match)
        return query.filter(self.model.id.in_(cards))


class CardFilterConverter(PrivacyFilterConverter):
    """The registry's filters, and ``key=value`` on the card's attributes."""

    conversion_table = (("is_attribute_values", [FilterAttribute]), *PrivacyFilterConverter.conversion_table)


class CardInterface(PrivacyAwareInterface):
    """The client card's data interface: privacy-aware, with attribute search."""

    filter_converter_class = CardFilterConverter

    def is_attribute_values(self, col_name: str) -> bool:
        return col_name == "attribute_values"
