"""Flask-AppBuilder strings whose Polish translation we supply ourselves.

FAB's Polish catalog is incomplete and partly wrong (its "Sign In" reads
"Zarejestruj się", i.e. "Register"). Our catalogs are loaded after FAB's and
override them; listing the msgids here puts them in ``pybabel extract``'s output,
so the catalog test sees a missing one.
"""

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

FAB_MSGIDS_WE_TRANSLATE = (
    # wrong in FAB's Polish catalog
    _l("Sign In"),
    _l("Sign in using:"),
    _l("Login"),
    _l("Logout"),
    _l("Added Row"),
    _l("Changed Row"),
    _l("Deleted Row"),
    _l("Associated data exists, please delete them first"),
    _l("Integrity error, probably unique constraint"),
    _l("Count of"),
    _l("Record Count"),
    _l("Login count"),
    _l("Failed login count"),
    _l("Your user information"),
    _l("Reset my password"),
    _l("Reset Password"),
    _l("Please use a good password policy, this application does not check this for you"),
    _l("Enter your login and password below"),
    _l("Invalid login. Please try again."),
    _l("Edit record"),
    _l("Equal to"),
    _l("Not Equal to"),
    _l("Start with"),
    _l("Starts with"),
    _l("Ends with"),
    _l("Not Ends with"),
    _l("Not Starts with"),
    _l("Access is Denied"),
    # missing from FAB's Polish catalog
    _l("Database Error"),
    _l("Select Value"),
    _l("Contains (insensitive)"),
    _l("In"),
    _l("Not In"),
    _l("List Groups"),
    _l("Edit User Information"),
    _l("User information changed"),
    _l("Groups"),
    _l("The user's password for authentication"),
    _l("User(s) exists in the role, cannot delete"),
    _l("Show Group"),
    _l("Add Group"),
    _l("Edit Group"),
    _l("User(s) exists in the group, cannot delete"),
    _l("Order by"),
    _l("Add"),
    _l("Edit"),
    _l("Show"),
    _l("Delete"),
    _l("Are you sure you want to delete this item?"),
    _l("Detail"),
    _l("Either select a role or a group"),
)


def N_(text: str) -> str:
    """Mark a text for the catalog without translating it here (the gettext idiom)."""
    return text


#: marshmallow's messages for the REST API's refusals, translated by :func:`translate_marshmallow`
MARSHMALLOW_MSGIDS = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Invalid type."),
    N_("Invalid input type."),
    N_("Unknown field."),
    N_("Not a valid list."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid email address."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Not a valid integer."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid boolean."),
    N_("Not a valid {obj_type}."),
    N_("Not a valid date."),
    N_("Not a valid mapping type."),
    N_("Must be one of: {choices}."),
    N_("Length must be between {min} and {max}."),
    N_("Length must be {equal}."),
    N_("Longer than maximum length {max}."),
    N_("Shorter than minimum length {min}."),
)


class TranslatedMessage(str):
    """An English marshmallow message that marshmallow formats in the request's language.

    marshmallow calls ``message.format(...)`` when it raises; this ``format``
    looks the English text up in our catalog first.
    """

    def format(self, *args, **kwargs):
        return gettext(str(self)).format(*args, **kwargs)


def translate_marshmallow() -> None:
    """Make marshmallow's field, validator and schema messages translatable (idempotent, process-wide)."""
    from marshmallow import Schema, fields, validate

    known = set(MARSHMALLOW_MSGIDS)

    def wrap(messages: dict) -> None:
        for key, message in messages.items():
            if isinstance(message, str) and message in known and not isinstance(message, TranslatedMessage):
                messages[key] = TranslatedMessage(message)

    stack = [fields.Field]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if "default_error_messages" in vars(cls):
            wrap(cls.default_error_messages)
    wrap(Schema._default_error_messages)
    for validator in (validate.Length, validate.OneOf):
        for name, message in vars(validator).items():
            if name.startswith("message") and isinstance(message, str) and message in known:
                setattr(validator, name, TranslatedMessage(message))


def translated_errors(messages):
    """marshmallow's error messages (a dict, list or text) in the request's language."""
    if isinstance(messages, dict):
        return {key: translated_errors(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [translated_errors(value) for value in messages]
    return gettext(str(messages)) if isinstance(messages, TranslatedMessage) else messages


def date_picker_language() -> dict:
    """The date picker's words for the user's language, from the locale data Babel holds (CLDR).

    Weeks start as the locale starts them (Monday in Polish); the picker writes
    dates as the forms read them back (crm.forms.DATE_FORMATS).
    """
    from babel.dates import get_day_names, get_month_names
    from flask_babel import get_locale

    from crm.timeutil import date_format

    locale = get_locale()
    # CLDR numbers weekdays from Monday (0); the picker from Sunday
    def days(width, context="format"):
        names = get_day_names(width, context, locale)
        return [names[(index + 6) % 7] for index in range(7)]

    return {
        "days": days("wide"),
        "daysShort": days("abbreviated"),
        "daysMin": days("short"),
        "months": list(get_month_names("wide", "stand-alone", locale).values()),
        "monthsShort": list(get_month_names("abbreviated", "stand-alone", locale).values()),
        "today": gettext("Today"),
        "clear": gettext("Clear"),
        "weekStart": (locale.first_week_day + 1) % 7,
        "format": date_format().replace("%d", "dd").replace("%m", "mm").replace("%Y", "yyyy"),
    }


def select_language() -> dict:
    """The words of Select2 (FAB's select boxes) in the user's language; Select2 itself speaks English."""
    return {
        "noResults": gettext("Nothing found"),
        "searching": gettext("Searching…"),
        "loadingMore": gettext("Loading more…"),
        "errorLoading": gettext("The options could not be loaded."),
        "inputTooShort": gettext("Type more characters"),
        "inputTooLong": gettext("Type fewer characters"),
        "maximumSelected": gettext("No more can be chosen"),
        "removeAllItems": gettext("Remove all"),
        "removeItem": gettext("Remove"),
        "search": gettext("Search"),
    }


def in_english(text) -> str:
    """A value written in English on any page (an attribute's English label), marked so for screen readers."""
    from markupsafe import Markup

    return Markup('<span lang="en">{}</span>').format(text) if text else ""
