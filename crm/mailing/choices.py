"""Where a subscription came from; keys are stored, labels are translated."""

from flask_babel import lazy_gettext as _l

SUBSCRIPTION_SOURCE_LABELS = {
    "manual": _l("Entered by staff"),
    "web_form": _l("Web form"),
    "import": _l("Import"),
    "api": _l("API"),
    "event": _l("Event or fair"),
}
SUBSCRIPTION_SOURCES = tuple(SUBSCRIPTION_SOURCE_LABELS)
