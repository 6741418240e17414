"""Rules applied to a client card before it is saved, whatever the entry point."""

from __future__ import annotations

from crm.clients.models import Client
from crm.clients.validation import normalized_client_values

#: Columns whose stored form is normalised (identifiers as digits, blanks as NULL).
NORMALIZED_COLUMNS = (
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
    "remarks",
)


def prepare_for_save(client: Client, acting_user=None) -> Client:
    """Normalise stored values; a new card without an owner belongs to its author."""
    values = normalized_client_values({name: getattr(client, name) for name in NORMALIZED_COLUMNS})
    for name, value in values.items():
        if getattr(client, name) != value:
            setattr(client, name, value)
    if not client.country:
        client.country = "PL"
    if client.id is None and client.owner is None and acting_user is not None:
        if getattr(acting_user, "is_authenticated", False):
            client.owner = acting_user
    return client
