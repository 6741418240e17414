"""REST API of the client card (``/api/v1/client/``), JWT-authenticated."""

from __future__ import annotations

from flask import g
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
    prepare_payload = staticmethod(with_compact_identifiers)
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
        service.prepare_for_save(item, acting_user=g.user)

    def pre_update(self, item):
        service.prepare_for_save(item, acting_user=g.user)
