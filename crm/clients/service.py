"""Rules applied to a client card before it is saved, whatever the entry point."""

from __future__ import annotations

from sqlalchemy import inspect

from crm.clients.duplicates import check_duplicates
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


def prepare_for_save(
    client: Client, acting_user=None, confirmed_new_basis: bool = False, confirmed_duplicate: bool = False
) -> Client:
    """Normalise stored values; a new card without an owner belongs to its author.

    Refuses (ValueError) a change to a restricted card, the email or phone of
    an erased person unless a new legal basis is confirmed, and another card's
    NIP, PESEL or email unless the duplicate is confirmed.
    """
    from crm.extensions import db

    values = normalized_client_values({name: getattr(client, name) for name in NORMALIZED_COLUMNS})
    for name, value in values.items():
        if getattr(client, name) != value:
            setattr(client, name, value)
    if not client.country:
        client.country = "PL"
    if client.id is None and client.owner is None and acting_user is not None:
        if getattr(acting_user, "is_authenticated", False):
            client.owner = acting_user
    # no autoflush: the card is written (and its version checked) by the caller's save, not by these queries
    with db.session.no_autoflush:
        _check_allowed(client, confirmed_new_basis)
        check_duplicates(db.session, client, confirmed_duplicate)
    return client


def check_deletable(client: Client) -> None:
    """Refuse (ValueError) deleting a restricted card: Art. 18 allows only keeping it.

    Otherwise deleting a card deletes its rows (contact persons, notes,
    subscriptions, consents, restrictions, attribute values, all kept in
    history); its data-subject requests stay in the register without it.
    """
    from crm.extensions import db
    from crm.gdpr.service import ensure_not_restricted

    ensure_not_restricted(db.session, client.id)


def _check_allowed(client: Client, confirmed_new_basis: bool) -> None:
    from crm.extensions import db
    from crm.gdpr.service import SUPPRESSED_MESSAGE, SuppressedError, ensure_not_restricted
    from crm.gdpr.suppression import is_suppressed

    if client.id is not None:
        ensure_not_restricted(db.session, client.id)
    if not confirmed_new_basis and is_suppressed(db.session, _changed_identifiers(client)):
        raise SuppressedError(str(SUPPRESSED_MESSAGE))


def _changed_identifiers(client: Client) -> dict[str, str | None]:
    """The card's email, phone, NIP and PESEL that are new or changed (those an erasure suppresses)."""
    from crm.gdpr.suppression import SUPPRESSED_COLUMNS

    state = inspect(client)
    return {
        column: getattr(client, column) for column in SUPPRESSED_COLUMNS
        if client.id is None or getattr(state.attrs, column).history.has_changes()
    }


def card_name(client: Client) -> str:
    """A card's name as the current user reads it: masked where their role sees names masked."""
    from crm.privacy.categories import IDENTITY
    from crm.privacy.masking import can_see, mask

    name = client.display_name or ""
    return name if can_see(IDENTITY) or not name else mask("name", name)
