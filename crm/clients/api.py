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
from crm.extensions import appbuilder, db
from crm.clients import api_schema, service
from crm.clients.duplicates import IDENTIFYING
from crm.clients.labels import CLIENT_LABELS
from crm.clients.models import Client
from crm.clients.validation import client_errors, with_compact_identifiers
from crm.modelviews import MASKED_WRITE_MESSAGE, VersionedModelRestApi
from crm.privacy.categories import FREE_TEXT
from crm.privacy.masking import can_see, mask_free_text

NOT_AN_OBJECT_MESSAGE = _l("Send the attributes as an object of key and value.")
NOT_A_BOOLEAN_MESSAGE = _l("Send true or false.")
CHANGE_TOGETHER_MESSAGES = {
    "identity": _l("A change of who the client is sends kind with the names (and, for a company, an empty pesel)."),
    "postal_code": _l("A change of the country sends the postal code with it."),
}

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
    list_title = _l("Clients")
    show_title = _l("Client card")
    add_title = _l("Add client")
    edit_title = _l("Edit client")
    label_columns = {**CLIENT_LABELS, "id": _l("Number"), "owner.id": _l("Owner"), "owner.username": _l("Owner's user name")}
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
        self._prepare(item)
        _save_attributes(item, partial=False)

    def pre_update(self, item):
        self._prepare(item)
        _save_attributes(item, partial=True)

    @staticmethod
    def _prepare(item) -> None:
        service.prepare_for_save(
            item,
            acting_user=g.user,
            confirmed_new_basis=_confirmed("confirm_new_legal_basis"),
            confirmed_duplicate=_confirmed("confirm_duplicate"),
        )

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
        definitions = active_definitions(db.session)
        shown = {
            "type": "object",
            "description": "Admin-defined attributes of the card, by key (personal ones masked for roles that may not see them).",
            "properties": {definition.key: api_schema.attribute_property(definition) for definition in definitions},
        }
        for kind in ("get", "get_list", "post", "put"):
            schema = api_spec.components.schemas.get(f"{type(self).__name__}.{kind}")
            if isinstance(schema, dict):
                schema.setdefault("properties", {})["attributes"] = shown
        owners = list(db.session.scalars(
            select(appbuilder.sm.user_model.id).where(appbuilder.sm.user_model.active.is_(True)).order_by(appbuilder.sm.user_model.id)
        ))
        for name, update in (("ClientBody", False), ("ClientChange", True)):
            attributes = api_schema.attributes_object(definitions, update)
            api_spec.components.schema(name, api_schema.client_body(owners, attributes, update))

    def conform_openapi(self, document: dict) -> None:
        """FAB's description, with the card's own bodies for POST and PUT (crm.clients.api_schema)."""
        super().conform_openapi(document)
        paths = self.api_paths(document)
        base = f"/api/{self.version}/{self.resource_name}/"
        created = paths[base]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
        created["properties"]["id"] = {"type": "integer", "description": "The new card's id"}
        for path, method, body in ((base, "post", "ClientBody"), (base + "{pk}", "put", "ClientChange")):
            operation = paths[path][method]
            operation["requestBody"]["content"]["application/json"]["schema"] = {"$ref": f"#/components/schemas/{body}"}
            operation["responses"].setdefault("409", {"description": (
                "The card changed since it was read (another lock_version), its processing is restricted (Art. 18), "
                "its email or phone is a person's erased at their request (send confirm_new_legal_basis: true "
                "with a new legal basis), or other cards have its NIP, PESEL or email (named in duplicates; send "
                "confirm_duplicate: true when it is another client)"
            ), "content": {"application/json": {"schema": {"type": "object", "properties": {
                "message": {"type": "string"},
                "duplicates": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "field": {"type": "string", "enum": list(IDENTIFYING)},
                }}},
            }}}}})

    def put_headless(self, pk):
        """A change must carry, whole, what the stored card could contradict (crm.clients.api_schema)."""
        body = request.get_json(silent=True)
        if isinstance(body, dict) and not self._masked_fields_in(body):
            problems = api_schema.change_problems(body)
            if problems:
                return self.response_422(message={
                    field: [str(CHANGE_TOGETHER_MESSAGES[reason])] for field, reason in problems.items()
                })
        return super().put_headless(pk)


#: keys of the request body that are not columns of the card
_EXTRA_KEYS = ("confirm_new_legal_basis", "confirm_duplicate", "attributes")

class FieldError(ValueError):
    """One field of the body refused: the API answers 422 with ``{field: [message]}``."""

    def __init__(self, field: str, message):
        super().__init__(str(message))
        self.api_message = {field: [str(message)]}


def _body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _confirmed(key: str) -> bool:
    """``"<key>": true`` in the body: the caller confirms what a save would otherwise refuse.

    ``confirm_new_legal_basis``: a new basis for a person erased earlier;
    ``confirm_duplicate``: the card is another client than the cards with its NIP, PESEL or email.
    """
    confirmed = _body().get(key, False)
    if not isinstance(confirmed, bool):
        raise FieldError(key, NOT_A_BOOLEAN_MESSAGE)
    return confirmed


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
