"""Results of a login attempt; keys are stored, labels translated."""

from flask_babel import lazy_gettext as _l

LOGIN_RESULT_LABELS = {
    "success": _l("Signed in"),
    "bad_password": _l("Wrong password"),
    "unknown_user": _l("Unknown user"),
    "locked": _l("Account locked"),
    "inactive": _l("Account inactive"),
    "expired": _l("Password expired"),
    "must_change": _l("Signed in to choose a new password"),
    "bad_code": _l("Wrong one-time code"),
    "second_factor": _l("Refused: the account signs in with a one-time code, which the API cannot take"),
}
LOGIN_RESULTS = tuple(LOGIN_RESULT_LABELS)
#: results of a right password: not failed attempts, whatever came next
RIGHT_PASSWORD_RESULTS = ("success", "expired", "must_change")
CHANNEL_LABELS = {"form": _l("Sign-in form"), "api": _l("REST API")}
