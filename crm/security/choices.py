"""Results of a login attempt; keys are stored, labels translated."""

from flask_babel import lazy_gettext as _l

LOGIN_RESULT_LABELS = {
    "success": _l("Signed in"),
    "bad_password": _l("Wrong password"),
    "unknown_user": _l("Unknown user"),
    "locked": _l("Account locked"),
    "inactive": _l("Account inactive"),
    "expired": _l("Password expired"),
    "bad_code": _l("Wrong one-time code"),
    "second_factor": _l("Refused: the account signs in with a one-time code, which the API cannot take"),
}
LOGIN_RESULTS = tuple(LOGIN_RESULT_LABELS)
