"""Stored keys of subscriptions and their translated labels, with the field labels of a subscription."""

from flask_babel import lazy_gettext as _l

SUBSCRIPTION_SOURCE_LABELS = {
    "manual": _l("Entered by staff"),
    "web_form": _l("Web form"),
    "import": _l("Import"),
    "api": _l("API"),
    "event": _l("Event or fair"),
}
SUBSCRIPTION_SOURCES = tuple(SUBSCRIPTION_SOURCE_LABELS)

SUBSCRIPTION_LABELS = {
    "client": _l("Client"),
    "mailing_list": _l("Mailing list"),
    "mailing_list_id": _l("Mailing list"),
    "subscribed_at": _l("Subscribed at"),
    "source": _l("Source"),
}
