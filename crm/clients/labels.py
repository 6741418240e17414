"""Field labels of the client card and its related records, shared by screens and history."""

from flask_babel import lazy_gettext as _l

CLIENT_LABELS = {
    "display_name": _l("Name"),
    "kind": _l("Kind"),
    "company_name": _l("Company name"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "email": _l("Email"),
    "phone": _l("Phone"),
    "street": _l("Street and number"),
    "postal_code": _l("Postal code"),
    "city": _l("City"),
    "country": _l("Country"),
    "nip": _l("NIP"),
    "pesel": _l("PESEL"),
    "status": _l("Status"),
    "owner": _l("Owner"),
    "remarks": _l("Remarks"),
    "created_at": _l("Created at"),
    "updated_at": _l("Updated at"),
    "owner_id": _l("Owner"),
    "mailing_lists": _l("Mailing list"),
    "lock_version": _l("Version"),
    "attribute_values": _l("Attribute (key=value)"),
    "word_index": _l("Name, email, phone, NIP or PESEL"),
}

CONTACT_LABELS = {
    "client": _l("Client"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "position": _l("Position"),
    "email": _l("Email"),
    "phone": _l("Phone"),
}

NOTE_LABELS = {
    "client": _l("Client"),
    "kind": _l("Kind"),
    "occurred_on": _l("Date"),
    "text": _l("Text"),
    "author": _l("Author"),
    "author_id": _l("Author"),
    "created_at": _l("Created at"),
}
