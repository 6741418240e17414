"""REST API of the client card (``/api/v1/client/``), JWT-authenticated."""

from __future__ import annotations

from flask import g, request
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.attributes.filters import CardInterface
from crm.attributes.kinds import to_json
from crm.attributes.models import AttributeValue
from crm.attributes.service import AttributeErrors, active_definitions, apply_values
from crm.errors import refusal
from crm.extensions import db
from crm.clients import service
from crm.clients.models import Client
from crm.clients.validation import client_errors, with_compact_identifiers
from crm.modelviews import MASKED_WRITE_MESSAGE, VersionedModelRestApi
from crm.privacy.categories import FREE_TEXT
from crm.privacy.masking import can_see, mask_free_text

NOT_AN_OBJECT_MESSAGE = _l("Send the attributes as an object of key and value.")

CLIENT_API_FIELDS = [
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
]


class ClientApi(VersionedModelRestApi):
    """Clients over the REST API; PUT needs the ``lock_version`` read by GET."""

    resource_name = "client"
    datamodel = CardInterface(Client)
    validation_rules = staticmethod(client_errors)
    prepare_payload = staticmethod(lambda body: _without_extras(body))
    list_columns = [
        "id",
        *(field for field in CLIENT_API_FIELDS if field != "owner"),
        "owner.id",
        "owner.username",
        "created_at",
        "updated_at",
        "lock_version",
    ]
    show_columns = list_columns
    add_columns = CLIENT_API_FIELDS
    edit_columns = CLIENT_API_FIELDS
    search_columns = [
        "company_name", "first_name", "last_name", "email", "phone", "city", "nip", "pesel", "status", "owner", "kind",
        "attribute_values",
    ]
    #: personal columns are stored encrypted: the database cannot sort them
    order_columns = ["id", "kind", "status", "created_at", "updated_at"]
    page_size = 25
    max_page_size = 100

    def pre_add(self, item):
        service.prepare_for_save(item, acting_user=g.user, confirmed_new_basis=_confirmed())
        _save_attributes(item, partial=False)

    def pre_update(self, item):
        service.prepare_for_save(item, acting_user=g.user, confirmed_new_basis=_confirmed())
        _save_attributes(item, partial=True)

    def pre_delete(self, item):
        service.check_deletable(item)

    def pre_get(self, data):
        # the caller may have left "id" out of the columns it asked for
        pk = int(request.view_args["pk"])
        data[API_RESULT_RES_KEY]["attributes"] = _attributes_of([pk]).get(pk, {})
        super().pre_get(data)

    def pre_get_list(self, data):
        rows = [row for row in data[API_RESULT_RES_KEY] if "id" in row]
        found = _attributes_of([row["id"] for row in rows])
        for row in rows:
            row["attributes"] = found.get(row["id"], {})
        super().pre_get_list(data)

    def _result(self, schema, item) -> dict:
        return {**super()._result(schema, item), "attributes": _attributes_of([item.id]).get(item.id, {})}

    def add_apispec_components(self, api_spec):
        """FAB's schemas, with the active attributes as they are now (the document is built per request)."""
        super().add_apispec_components(api_spec)
        attributes = {
            "type": "object",
            "description": "Admin-defined attributes of the card, by key.",
            "properties": {
                definition.key: _openapi_property(definition) for definition in active_definitions(db.session)
            },
        }
        for name, schema in api_spec.components.schemas.items():
            if name.startswith(f"{self.__class__.__name__}.") and isinstance(schema, dict):
                schema.setdefault("properties", {})["attributes"] = attributes


#: keys of the request body that are not columns of the card
_EXTRA_KEYS = ("confirm_new_legal_basis", "attributes")

_OPENAPI_TYPES = {
    "integer": {"type": "integer"},
    "decimal": {"type": "string", "format": "decimal"},
    "date": {"type": "string", "format": "date"},
    "boolean": {"type": "boolean"},
    "multi_choice": {"type": "array", "items": {"type": "string"}},
    "email": {"type": "string", "format": "email"},
    "url": {"type": "string", "format": "uri"},
}


def _openapi_property(definition) -> dict:
    prop = dict(_OPENAPI_TYPES.get(definition.kind, {"type": "string"}))
    prop["description"] = f"{definition.label_en} / {definition.label_pl}"
    choices = list(definition.spec.choices)
    if definition.kind == "choice":
        prop["enum"] = choices
    elif definition.kind == "multi_choice":
        prop["items"] = {"type": "string", "enum": choices}
    return prop


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _confirmed() -> bool:
    """``"confirm_new_legal_basis": true`` in the body: the caller has a new basis for an erased person."""
    return _body().get("confirm_new_legal_basis") is True


def _save_attributes(item, partial: bool) -> None:
    raw = _body().get("attributes", {})
    if not isinstance(raw, dict):
        raise AttributeErrors({"attributes": [str(NOT_AN_OBJECT_MESSAGE)]})
    definitions = active_definitions(db.session)
    if not can_see(FREE_TEXT):
        # personal attributes are masked for this caller: it may not write them either, and they keep their values
        if any(d.personal and d.key in raw for d in definitions):
            raise refusal(403, MASKED_WRITE_MESSAGE)
        definitions = [d for d in definitions if not d.personal]
        partial = True
    apply_values(item, raw, definitions, partial=partial)


def _attributes_of(client_ids) -> dict[int, dict]:
    """The active attributes of these cards as the API shows them (masked where the caller may not see)."""
    result: dict[int, dict] = {client_id: {} for client_id in client_ids}
    rows = db.session.scalars(select(AttributeValue).where(AttributeValue.client_id.in_(list(client_ids))))
    for row in rows:
        if not row.definition.active:
            continue
        value = to_json(row.definition.spec, row.stored)
        result[row.client_id][row.definition.key] = mask_free_text(value) if row.definition.personal else value
    return result


def _without_extras(body: dict) -> dict:
    return with_compact_identifiers({key: value for key, value in body.items() if key not in _EXTRA_KEYS})
