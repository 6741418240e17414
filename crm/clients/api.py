"""REST API of the client card (``/api/v1/client/``), JWT-authenticated."""

from __future__ import annotations

from flask import g, request
from crm.privacy.filters import PrivacyAwareInterface

from crm.clients import service
from crm.clients.models import Client
from crm.clients.validation import client_errors, with_compact_identifiers
from crm.modelviews import VersionedModelRestApi

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
    datamodel = PrivacyAwareInterface(Client)
    validation_rules = staticmethod(client_errors)
    prepare_payload = staticmethod(lambda body: _without_confirmation(body))
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
    ]
    #: personal columns are stored encrypted: the database cannot sort them
    order_columns = ["id", "kind", "status", "created_at", "updated_at"]
    page_size = 25
    max_page_size = 100

    def pre_add(self, item):
        service.prepare_for_save(item, acting_user=g.user, confirmed_new_basis=_confirmed())

    def pre_update(self, item):
        service.prepare_for_save(item, acting_user=g.user, confirmed_new_basis=_confirmed())


def _confirmed() -> bool:
    """``"confirm_new_legal_basis": true`` in the body: the caller has a new basis for an erased person."""
    body = request.get_json(silent=True)
    return isinstance(body, dict) and body.get("confirm_new_legal_basis") is True


def _without_confirmation(body: dict) -> dict:
    return with_compact_identifiers({key: value for key, value in body.items() if key != "confirm_new_legal_basis"})
