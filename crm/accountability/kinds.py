"""Closed vocabularies of accountability: kinds of opening, categories of data subjects; keys stored, labels translated."""

from __future__ import annotations

from flask import current_app
from flask_appbuilder import ModelView
from flask_babel import lazy_gettext as _l

READ_KIND_LABELS = {
    "card": _l("Card or record page"),
    "edit": _l("Edit form"),
    "list": _l("List"),
    "search": _l("Search results"),
    "history": _l("History and comparison of versions"),
    "export": _l("Export or download"),
    "api": _l("REST API"),
}

#: categories of data subjects a processing activity concerns (Art. 30(1)(c))
SUBJECT_CATEGORY_LABELS = {
    "clients": _l("Clients (natural persons, sole traders)"),
    "contacts": _l("Contact persons of clients"),
    "subscribers": _l("Subscribers of mailing lists"),
    "staff": _l("Staff using Kartoteka"),
}
#: the categories whose members are clients' people: an activity concerning one is told to the person (Art. 15(1))
ABOUT_CLIENTS = ("clients", "contacts", "subscribers")


def place_label(endpoint: str) -> str:
    """The screen an endpoint belongs to ("Client cards"): its view's ``place_title``, or a model screen's list title."""
    view_name = endpoint.partition(".")[0]
    for view in current_app.appbuilder.baseviews:
        if type(view).__name__ == view_name:
            title = getattr(view, "place_title", None)
            if title is None and isinstance(view, ModelView):
                title = view.list_title
            return str(title) if title else view_name
    return view_name
